"""Included at /: the day view, My bookings, the booking form, a space's row, cancelling."""

from django.urls import path

from openrooms.bookings import views

urlpatterns = [
    path("", views.day_view, name="home"),
    path("bookings/", views.my_bookings, name="my_bookings"),
    path("bookings/book/<int:space_id>/", views.book, name="book"),
    path("bookings/row/<int:space_id>/", views.space_row, name="space_row"),
    path("bookings/<int:booking_id>/cancel/", views.cancel, name="cancel_booking"),
]
