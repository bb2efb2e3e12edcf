"""Tests of the /api/v1 router itself (none yet: each app tests its endpoints in test_api.py)."""
