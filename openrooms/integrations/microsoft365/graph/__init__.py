"""The one client that talks to Microsoft (client.py), the replies it parses (replies.py) and
how its calls fail (failures.py). Nothing outside this package builds a Graph URL."""
