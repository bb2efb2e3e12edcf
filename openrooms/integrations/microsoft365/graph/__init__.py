"""The one way to Microsoft: nothing outside this package builds a Graph URL.

The one client that talks to Microsoft (client.py), the replies it parses (replies.py) and how
its calls fail (failures.py)."""
