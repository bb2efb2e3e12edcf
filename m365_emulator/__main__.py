"""`python -m m365_emulator`: the `m365-emulator` command (cli.py)."""

import sys

from .cli import main

sys.exit(main())
