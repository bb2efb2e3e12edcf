"""Tests of offices, floors, desks and rooms: the settings area, plan images, plans, the API."""
