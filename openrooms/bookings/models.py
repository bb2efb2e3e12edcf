from __future__ import annotations

from django.conf import settings
from django.db import models

from openrooms.spaces.models import Space


class Booking(models.Model):
    """A space taken for a time range. Times are UTC; pages show them in the office's zone.

    No two *confirmed* bookings of a space overlap: on PostgreSQL an exclusion constraint
    (migration 0002) guarantees it, on SQLite bookings.services serializes check-and-insert.
    """

    class Status(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        CANCELLED = "cancelled", "Cancelled"

    class Source(models.TextChoices):
        APP = "app", "openrooms"
        OUTLOOK = "outlook", "Outlook"

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="bookings")
    booker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bookings",
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    title = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CONFIRMED)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.APP)
    # Who booked it when it came from Outlook and maps to no account here.
    organizer_name = models.CharField(max_length=200, blank=True)
    organizer_email = models.EmailField(blank=True)
    is_private = models.BooleanField(default=False)
    # Microsoft 365 identities of the calendar event behind this booking.
    graph_event_id = models.CharField(max_length=512, blank=True, db_index=True)
    ical_uid = models.CharField(max_length=512, blank=True, db_index=True)
    transaction_id = models.UUIDField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["start", "space_id"]
        indexes = [
            models.Index(fields=["space", "start"]),
            models.Index(fields=["booker", "start"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="booking_ends_after_it_starts"
            )
        ]

    def __str__(self) -> str:
        return f"{self.space} {self.start:%Y-%m-%d %H:%M}–{self.end:%H:%M}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.CONFIRMED
