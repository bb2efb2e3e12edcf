"""The demo app's management commands: `openrooms demo`."""
