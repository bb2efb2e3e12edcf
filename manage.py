#!/usr/bin/env python
from openrooms.cli import main

if __name__ == "__main__":
    main()
