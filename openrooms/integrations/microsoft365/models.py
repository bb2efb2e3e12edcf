"""`Connection`, `RoomLink`, `OutboxEntry` and `CalendarSyncState`: the integration's tables."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from openrooms.accounts.models import Organisation
from openrooms.bookings.models import Booking
from openrooms.spaces.models import Space


class Connection(models.Model):
    """An organisation's Microsoft 365 tenant: the Azure app's credentials and their health."""

    class WriteMode(models.TextChoices):
        BOOKER_CALENDAR = "booker", "In the booker's calendar, with the room invited"
        ROOM_CALENDAR = "room", "Directly in the room's calendar"

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="microsoft365"
    )
    tenant_id = models.CharField(max_length=255)
    client_id = models.CharField(max_length=36)
    # Fernet-encrypted (openrooms.crypto); the plain secret is never rendered again.
    client_secret_encrypted = models.TextField()
    secret_set_at = models.DateTimeField()
    secret_expires_on = models.DateField(null=True, blank=True)
    write_mode = models.CharField(
        max_length=10, choices=WriteMode.choices, default=WriteMode.BOOKER_CALENDAR
    )
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_steps = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Microsoft 365 tenant {self.tenant_id} of {self.organisation}"


class RoomLink(models.Model):
    """A room space imported from Microsoft 365, keyed on its mailbox: Places ids can change."""

    space = models.OneToOneField(Space, on_delete=models.CASCADE, related_name="room_link")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="room_links"
    )
    mailbox = models.EmailField()
    graph_room_id = models.CharField(max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    building = models.CharField(max_length=255, blank=True)
    floor_label = models.CharField(max_length=255, blank=True)
    room_list = models.CharField(max_length=255, blank=True)
    last_seen_in_places_at = models.DateTimeField(null=True, blank=True)

    class MailboxProblem(models.TextChoices):
        NONE = "", "None"
        PERSON = "person", "A person's mailbox"
        ON_PREMISES = "on_premises", "An on-premises mailbox"

    # Found after import (room_mailboxes): nothing is read from or written to such a mailbox.
    mailbox_problem = models.CharField(
        max_length=12, blank=True, choices=MailboxProblem.choices, default=MailboxProblem.NONE
    )
    mailbox_checked_at = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["mailbox"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "mailbox"], name="room_mailbox_linked_once"
            )
        ]

    def __str__(self) -> str:
        return self.mailbox


class OutboxEntry(models.Model):
    """One write to Outlook owed for a booking change, recorded in the booking's transaction.

    Delivery (outbound.py) claims an entry with a conditional UPDATE, so however many workers
    run, one delivers it; the entries of a booking are delivered in `sequence` order. A failed
    attempt keeps the entry with its last error and a next attempt time; it is retried until
    it is delivered or an administrator gives up on it.
    """

    class Kind(models.TextChoices):
        CREATE = "create", "Create the event"
        UPDATE = "update", "Move or rename the event"
        CANCEL = "cancel", "Cancel the event"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        # Keeps failing (or failed in a way a person must fix): shown to admins, still retried.
        FAILED = "failed", "Failing"
        GIVEN_UP = "given_up", "Given up"

    OPEN_STATES = (State.PENDING, State.FAILED)

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="outbox_entries"
    )
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="outbox_entries")
    sequence = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The mailbox whose calendar holds the event: the booker's, or the room's.
    mailbox = models.EmailField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # What delivery did that an admin should know (e.g. the booker has no mailbox).
    note = models.TextField(blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    given_up_at = models.DateTimeField(null=True, blank=True)
    given_up_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["booking_id", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["booking", "sequence"], name="outbox_entry_once_per_booking_change"
            )
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["mailbox", "state"]),
            models.Index(fields=["organisation", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for booking {self.booking_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class CalendarSyncState(models.Model):
    """Where the inbound sync (inbound/pull.py) of one linked room's calendar stands.

    `delta_link` is Graph's `@odata.deltaLink` from the last complete round: it carries the
    window it was opened with, so the window is kept beside it; blank means the next pull is a
    full sync. The scheduler enqueues a pull when `next_pull_at` has passed.
    """

    link = models.OneToOneField(RoomLink, on_delete=models.CASCADE, related_name="sync_state")
    delta_link = models.TextField(blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    next_pull_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # How many times in a row a pull failed (a restart after 410 is not a failure).
    failures = models.PositiveIntegerField(default=0)
    # The change-notification subscription on the room's events (subscriptions.py), when the
    # installation has a public address. `client_state` is the secret Graph echoes back.
    subscription_id = models.CharField(max_length=200, blank=True, db_index=True)
    subscription_expires_at = models.DateTimeField(null=True, blank=True)
    subscription_client_state = models.CharField(max_length=128, blank=True)
    subscription_error = models.TextField(blank=True)
    subscription_error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Calendar sync of {self.link}"
