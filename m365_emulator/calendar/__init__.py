"""The emulator's calendar engine: Exchange mailboxes' calendars in memory, no HTTP (store.py)."""
