"""Bookings of desks and rooms: their rules, pages and API endpoints, and Outlook's meetings."""
