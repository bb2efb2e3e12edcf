"""The sync health page's reads, and its one write of its own: asking for a room's resync.

Everything here reads the database only: the page never calls Graph, so it opens fast and
still opens when Microsoft (or the connection) is what is broken.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, F, Q, QuerySet, When
from django.utils import timezone

from openrooms.accounts.models import Organisation
from openrooms.bookings.models import Booking
from openrooms.bookings.services import bookings_of
from openrooms.integrations.microsoft365.inbound.pull import request_pull
from openrooms.integrations.microsoft365.models import (
    CalendarSyncState,
    OutboxEntry,
    RoomLink,
)
from openrooms.integrations.microsoft365.outbound import (
    oldest_undelivered_age,
    outbox_entries_of,
)
from openrooms.integrations.microsoft365.room_mailboxes import problem_text
from openrooms.integrations.microsoft365.subscriptions import webhooks_enabled
from openrooms.jobs.heartbeat import workers_alive

# Subscriptions are renewed once a third of their life is left (subscriptions.py), a day or more
# before they end: one this close to its end has missed its renewal.
SUBSCRIPTION_EXPIRING_SOON = dt.timedelta(hours=12)
# A pending entry this long past its due time means no worker is delivering.
OVERDUE_AFTER = dt.timedelta(minutes=2)
# Entries given up on stay listed this long, so an admin sees what was dropped.
GIVEN_UP_SHOWN_FOR = dt.timedelta(days=7)
# Rows per table; the summary line counts them all.
ROWS_SHOWN = 100


@dataclass(frozen=True)
class Subscription:
    """A room's change-notification subscription as the page words it."""

    status: str  # live, expiring, expired, error, none
    expires_at: dt.datetime | None = None
    error: str = ""
    error_at: dt.datetime | None = None


@dataclass(frozen=True)
class RoomHealth:
    link: RoomLink
    state: CalendarSyncState | None  # None until the room's first pull
    subscription: Subscription
    pending: int
    failing: int

    @property
    def in_error(self) -> bool:
        return bool(self.link.mailbox_problem or (self.state and (
            self.state.last_error or self.state.subscription_error
        )))

    @property
    def not_in_outlook(self) -> str:
        """Why nothing syncs with this room, when its mailbox is not a room's (room_mailboxes)."""
        return problem_text(self.link)

    def next_pull_is_due(self, now: dt.datetime) -> bool:
        return self.state is None or self.state.next_pull_at is None or (
            self.state.next_pull_at <= now
        )


@dataclass(frozen=True)
class Summary:
    rooms: int
    rooms_in_error: int
    pending: int
    failing: int
    conflicts: int
    declined: int
    notified: int  # rooms with a subscription that has not expired
    webhooks: bool
    poll_seconds: float
    safety_poll_seconds: float
    workers_alive: int  # seen in the last minute (jobs.heartbeat), as /readyz reports
    oldest_undelivered_minutes: int | None

    @property
    def poll_every(self) -> str:
        return f"{self.poll_seconds:g}"

    @property
    def safety_poll_every(self) -> str:
        return f"{self.safety_poll_seconds:g}"


def subscription_of(state: CalendarSyncState | None, now: dt.datetime) -> Subscription:
    if state is None:
        return Subscription("none")
    if state.subscription_error:
        return Subscription(
            "error", state.subscription_expires_at, state.subscription_error,
            state.subscription_error_at,
        )
    if not state.subscription_id:
        return Subscription("none")
    expires = state.subscription_expires_at
    if expires is not None and expires <= now:
        return Subscription("expired", expires)
    if expires is not None and expires - now <= SUBSCRIPTION_EXPIRING_SOON:
        return Subscription("expiring", expires)
    return Subscription("live", expires)


def room_health_of(organisation: Organisation, now: dt.datetime | None = None) -> list[RoomHealth]:
    """Every linked room of the organisation with its sync state and open outbox entries."""
    now = now or timezone.now()
    links = (
        RoomLink.objects.filter(organisation=organisation)
        .select_related("space__office", "sync_state")
        .order_by("space__office__name", "space__name")
    )
    counts: dict[tuple[int, str], int] = {
        (row["booking__space_id"], row["state"]): row["n"]
        for row in outbox_entries_of(organisation)
        .filter(state__in=OutboxEntry.OPEN_STATES)
        .values("booking__space_id", "state")
        .annotate(n=Count("id"))
    }
    rooms = []
    for link in links:
        state = getattr(link, "sync_state", None)
        rooms.append(RoomHealth(
            link=link,
            state=state,
            subscription=subscription_of(state, now),
            pending=counts.get((link.space_id, OutboxEntry.State.PENDING), 0),
            failing=counts.get((link.space_id, OutboxEntry.State.FAILED), 0),
        ))
    return rooms


def entries_to_show(organisation: Organisation, now: dt.datetime | None = None) -> QuerySet[
    OutboxEntry
]:
    """Outbox entries an admin should see: failing, pending but retried or overdue, and the
    ones given up on lately. Failing first, then the most recently tried."""
    now = now or timezone.now()
    pending = Q(state=OutboxEntry.State.PENDING) & (
        Q(attempts__gt=0) | Q(next_attempt_at__lte=now - OVERDUE_AFTER)
    )
    return (
        outbox_entries_of(organisation)
        .filter(
            pending
            | Q(state=OutboxEntry.State.FAILED)
            | Q(state=OutboxEntry.State.GIVEN_UP, given_up_at__gte=now - GIVEN_UP_SHOWN_FOR)
        )
        .select_related("booking__space__office", "booking__booker", "given_up_by")
        .annotate(rank=Case(
            When(state=OutboxEntry.State.FAILED, then=0),
            When(state=OutboxEntry.State.PENDING, then=1),
            default=2,
        ))
        .order_by("rank", F("last_attempt_at").desc(nulls_last=True), "-pk")
    )


def conflicts_and_declines(
    organisation: Organisation, now: dt.datetime | None = None
) -> QuerySet[Booking]:
    """Bookings not over yet that Outlook contradicted: meetings in conflict, bookings the
    room declined."""
    return (
        bookings_of(organisation)
        .filter(
            status__in=(Booking.Status.CONFLICT, Booking.Status.DECLINED),
            end__gt=now or timezone.now(),
        )
        .select_related("space__office", "booker")
        .order_by("start", "pk")
    )


def summary_of(
    organisation: Organisation, rooms: list[RoomHealth], now: dt.datetime | None = None
) -> Summary:
    entries = outbox_entries_of(organisation).aggregate(
        pending=Count("pk", filter=Q(state=OutboxEntry.State.PENDING)),
        failing=Count("pk", filter=Q(state=OutboxEntry.State.FAILED)),
    )
    now = now or timezone.now()
    oldest = oldest_undelivered_age(organisation, now)
    bookings = conflicts_and_declines(organisation, now).aggregate(
        conflicts=Count("pk", filter=Q(status=Booking.Status.CONFLICT)),
        declined=Count("pk", filter=Q(status=Booking.Status.DECLINED)),
    )
    return Summary(
        rooms=len(rooms),
        rooms_in_error=sum(room.in_error for room in rooms),
        pending=entries["pending"],
        failing=entries["failing"],
        conflicts=bookings["conflicts"],
        declined=bookings["declined"],
        notified=sum(room.subscription.status in ("live", "expiring") for room in rooms),
        webhooks=webhooks_enabled(),
        poll_seconds=settings.MICROSOFT_POLL_SECONDS,
        safety_poll_seconds=settings.MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS,
        workers_alive=workers_alive(now),
        oldest_undelivered_minutes=None if oldest is None else int(oldest.total_seconds() // 60),
    )


def do_request_resync(link: RoomLink, *, now: dt.datetime | None = None) -> CalendarSyncState:
    """Makes the room's next pull a full sync (which reconciles the room's Outlook meetings
    with its bookings), due now, and enqueues it once this commits."""
    now = now or timezone.now()
    with transaction.atomic():
        state, _ = CalendarSyncState.objects.get_or_create(link=link)
        # No delta link, or no last full sync, makes inbound's next round a full one; a pull
        # running now may write a new delta link, but a delta round never sets the latter.
        CalendarSyncState.objects.filter(pk=state.pk).update(
            delta_link="", last_full_sync_at=None, next_pull_at=now
        )
        # A pull queued and not started yet is not doubled: it reads the cleared state.
        transaction.on_commit(partial(request_pull, link.pk))
    state.refresh_from_db()
    return state
