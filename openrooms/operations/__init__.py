"""Running openrooms in production: the server, its health endpoints, backups."""
