"""Tests of bookings: the rules, the database's refusals, concurrency, the pages and the API."""
