"""The Microsoft 365 integration's management commands: `send_secret_expiry_warnings`."""
