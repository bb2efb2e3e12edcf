"""The bookings app: bookings of desks and rooms, their pages and their API endpoints."""

from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "openrooms.bookings"
