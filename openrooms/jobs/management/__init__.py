"""The jobs app's management commands: `openrooms worker` and `openrooms scheduler`."""
