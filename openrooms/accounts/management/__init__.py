"""The accounts app's management commands: organisations, accounts and API tokens."""
