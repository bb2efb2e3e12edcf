"""Tests of organisations, accounts, sign-in, the Members page and API tokens."""
