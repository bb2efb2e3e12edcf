"""Organisations, their accounts (administrators and members), sign-in and API tokens."""
