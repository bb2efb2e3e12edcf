"""`Booking`: a space taken for a time range, booked here or in Outlook."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from openrooms.spaces.models import Space


class Booking(models.Model):
    """A space taken for a time range. Times are UTC; pages show them in the office's zone.

    No two *confirmed* bookings of a space overlap: the database refuses it on both engines
    (PostgreSQL's exclusion constraint, migration 0002; SQLite's triggers, migration 0004), and
    bookings.placement decides who holds a slot. Only confirmed bookings hold one: a declined
    or conflicting one does not.
    """

    class Status(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        CANCELLED = "cancelled", "Cancelled"
        # The room's booking assistant in Outlook refused it (`status_reason` says why).
        DECLINED = "declined", "Declined by the room"
        # A meeting booked in Outlook over a confirmed booking here: kept, shown to admins and
        # the booker, never silently dropped, and not holding the slot.
        CONFLICT = "conflict", "Conflict"

    class Source(models.TextChoices):
        APP = "app", "openrooms"
        OUTLOOK = "outlook", "Outlook"

    # Their own indexes would only repeat the first column of (space, start) and (booker,
    # start): every index is work for each of a first sync's 750,000 inserts.
    space = models.ForeignKey(
        Space, on_delete=models.CASCADE, related_name="bookings", db_index=False
    )
    booker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bookings",
        db_index=False,
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
    # An Outlook meeting's showAs (free, tentative, busy, oof, ...); blank for bookings made here.
    show_as = models.CharField(max_length=20, blank=True)
    # What the room's booking assistant answered to a booking made here (booker's calendar mode):
    # blank until the inbound sync learns it, then accepted or declined.
    room_response = models.CharField(max_length=12, blank=True)
    # Why a booking is declined or in conflict, in words for the booker and admins.
    status_reason = models.TextField(blank=True)
    # Microsoft 365 identities of the calendar event behind this booking.
    graph_event_id = models.CharField(max_length=512, blank=True)
    ical_uid = models.CharField(max_length=512, blank=True)
    transaction_id = models.UUIDField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["start", "space_id"]
        indexes = [
            models.Index(fields=["space", "start"]),
            models.Index(fields=["booker", "start"]),
            # Plain indexes: db_index would add a second one on PostgreSQL for LIKE, never used.
            models.Index(fields=["graph_event_id"], name="booking_graph_event_id"),
            models.Index(fields=["ical_uid"], name="booking_ical_uid"),
            # Conflicts are few among millions of bookings; the day view asks for them each time.
            models.Index(
                fields=["space", "start"], condition=models.Q(status="conflict"),
                name="booking_conflicts",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="booking_ends_after_it_starts"
            ),
            # An Outlook meeting (one instance of a series) is one booking, however often the
            # inbound sync sees it.
            models.UniqueConstraint(
                fields=["space", "graph_event_id"],
                condition=models.Q(source="outlook"),
                name="outlook_event_booked_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.space} {self.start:%Y-%m-%d %H:%M}–{self.end:%H:%M}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.CONFIRMED
