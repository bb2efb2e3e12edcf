"""The Microsoft 365 integration: the connection, room import and the two-way calendar sync."""
