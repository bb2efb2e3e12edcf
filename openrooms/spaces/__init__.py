"""Offices, floors, plan images, desks and rooms."""
