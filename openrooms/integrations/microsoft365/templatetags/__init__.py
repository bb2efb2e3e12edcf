"""The integration's template tags: the client-secret expiry banner, the sync health times."""
