"""Tests of the emulator: its conformance suite, driven over HTTPS like a real client."""
