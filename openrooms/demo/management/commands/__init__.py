"""`openrooms demo` (demo.py): the demo organisation, the emulator, a worker and the app."""
