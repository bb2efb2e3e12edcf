"""The REST API under /api/v1: the router (router.py) that gathers each app's endpoints."""
