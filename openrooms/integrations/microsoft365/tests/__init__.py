"""Tests of the Microsoft 365 integration, against the emulator (one for the whole session)."""
