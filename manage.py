#!/usr/bin/env python
"""Django's manage.py for a source checkout: the same as the `openrooms` command."""

from openrooms.cli import main

if __name__ == "__main__":
    main()
