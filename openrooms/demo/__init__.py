"""The demo: a seeded organisation with a drawn floor plan, and the `openrooms demo` command."""
