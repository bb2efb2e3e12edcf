"""The outbox: booking changes recorded as rows in the booking's transaction, then written to
Outlook by a worker, so a booking is never lost or doubled however Graph behaves.

Recording: `record_booking_change` receives `bookings.signals.booking_changed` inside the
booking action's transaction and adds an `OutboxEntry` when the room is linked to Microsoft 365
and the organisation is connected; the delivery task is enqueued only once that commits, and
only if none is queued for the mailbox already (`enqueue_delivery`).

Delivering (`deliver_due_entries(mailbox)`, run by the `deliver_outbox` task):
- a worker first takes one of the mailbox's few slots (a `WorkLease`), so however many worker
  processes run, only MICROSOFT_OUTBOX_MAILBOX_SLOTS deliveries (each one request at a time)
  reach a mailbox at once: Outlook allows 4 concurrent requests per app and mailbox, and
  GraphClient's semaphore only counts the requests of one process;
- it then claims entries one by one with a conditional UPDATE (due, not claimed, no earlier
  entry of the same booking still open), so each entry is delivered by one worker, in order;
- a delivery converges the event on the booking as it is *now*: create (POST with the
  booking's transactionId, so Graph returns the first event if a retry repeats it, and after
  an uncertain answer we read the calendar back before trying again), move (PATCH) or cancel
  (the organizer's `cancel` in the booker's calendar, DELETE in the room's); writing directly
  to the room's calendar bypasses its booking assistant, so a create or a move there first
  checks the room is free at those times;
- a failure keeps the entry with its error and a next attempt time (Retry-After or capped
  exponential backoff); after a few attempts, or at once for a failure a person must fix, it
  is marked failed (shown to admins) and still retried until an admin gives up on it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import secrets
import socket
import threading
import uuid
import zoneinfo
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from openrooms.accounts.models import Account, Organisation
from openrooms.bookings.models import Booking
from openrooms.integrations.microsoft365.graph import (
    Event,
    GraphClient,
    GraphFailure,
    event_path,
    user_path,
)
from openrooms.integrations.microsoft365.models import (
    Connection,
    OutboxEntry,
    RoomLink,
    WorkLease,
)
from openrooms.integrations.microsoft365.services import client_for
from openrooms.spaces.services import get_or_404

logger = logging.getLogger(__name__)

OPEN = OutboxEntry.OPEN_STATES
KIND_OF_CHANGE = {
    "created": OutboxEntry.Kind.CREATE,
    "moved": OutboxEntry.Kind.UPDATE,
    "cancelled": OutboxEntry.Kind.CANCEL,
}
# Failed attempts after which an entry shows as failing to admins (it is still retried).
VISIBLE_AFTER_ATTEMPTS = 3
EVENT_FIELDS = "id,iCalUId,transactionId,subject,start,end,isCancelled,showAs"
IN_UTC = {"Prefer": 'outlook.timezone="UTC"'}
CANCEL_COMMENT = "Cancelled in openrooms."


# --- recording, in the booking's transaction ------------------------------------------------


def record_booking_change(sender: object, *, booking: Booking, change: str, **_: Any) -> None:
    """Adds the outbox entry for a booking change, when the room syncs with Microsoft 365."""
    if booking.source != Booking.Source.APP:
        return  # a meeting that came from Outlook is already there
    link = RoomLink.objects.filter(space_id=booking.space_id).first()
    if link is None:
        return
    connection = Connection.objects.filter(organisation_id=link.organisation_id).first()
    if connection is None:
        return
    if change == "moved" and booking.room_response:
        # The room's booking assistant answers the new times afresh (inbound.py learns it).
        booking.room_response = ""
        Booking.objects.filter(pk=booking.pk).update(room_response="")
    if booking.transaction_id is None:
        booking.transaction_id = uuid.uuid4()
        Booking.objects.filter(pk=booking.pk).update(transaction_id=booking.transaction_id)
    # The action's UPDATE of the booking row (or its INSERT) serializes changes of one booking,
    # so the next sequence is read after the previous change committed; the unique constraint
    # on (booking, sequence) makes that a guarantee.
    previous = OutboxEntry.objects.filter(booking=booking).order_by("-sequence").first()
    entry = OutboxEntry.objects.create(
        organisation_id=link.organisation_id,
        booking=booking,
        sequence=previous.sequence + 1 if previous else 1,
        kind=KIND_OF_CHANGE[change],
        # Later changes go where the first one put the event, whatever the mode is now.
        mailbox=previous.mailbox if previous else event_home(connection, link, booking),
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(partial(enqueue_delivery, entry.mailbox))


def event_home(connection: Connection, link: RoomLink, booking: Booking) -> str:
    """The mailbox whose calendar gets the event: the booker's, or in room mode the room's."""
    if connection.write_mode == Connection.WriteMode.BOOKER_CALENDAR and booking.booker_id:
        return booking.booker.email.lower()
    return link.mailbox.lower()


# How long "a delivery of this mailbox is queued" holds when that delivery never starts (its
# worker died, the queue was purged): then the next change or scheduler tick queues another.
QUEUED_LEASE = dt.timedelta(seconds=30)


def queued_key(mailbox: str) -> str:
    return f"enqueued:{mailbox.lower()}"


def enqueue_delivery(mailbox: str) -> None:
    """Queues a delivery of the mailbox's due entries, unless one is queued and not started
    yet: that one delivers them all, so each commit and each scheduler tick need not add
    another task (`deliver_due_entries` clears the mark as it starts)."""
    # Imported here: tasks.py imports this module.
    from openrooms.integrations.microsoft365.tasks import deliver_outbox

    try:
        enqueue_once(queued_key(mailbox), QUEUED_LEASE, partial(deliver_outbox.enqueue, mailbox))
    except Exception:
        # The entry is committed; the scheduler enqueues due entries it finds.
        logger.exception("Could not enqueue the outbox delivery for %s", mailbox)


# --- claiming ------------------------------------------------------------------------------


# Tells this process from an earlier one with the same host name and pid (containers).
PROCESS_TOKEN = secrets.token_hex(4)


def holder_id() -> str:
    """Who holds a claim: this process and thread (a worker runs one task at a time)."""
    return f"{socket.gethostname()}:{os.getpid()}:{PROCESS_TOKEN}:{threading.get_ident()}"


def lease_length() -> dt.timedelta:
    return dt.timedelta(seconds=settings.MICROSOFT_OUTBOX_LEASE_SECONDS)


def acquire_lease(key: str, holder: str, length: dt.timedelta) -> bool:
    """Takes (or extends, for its holder) the lease `key`; False while someone else holds it.

    The conditional UPDATE is the lock: PostgreSQL re-checks its WHERE clause after waiting
    for a concurrent writer of the row, SQLite runs one writer at a time.
    """
    now = timezone.now()
    WorkLease.objects.get_or_create(key=key, defaults={"expires_at": now})
    taken = (
        WorkLease.objects.filter(key=key)
        .filter(Q(expires_at__lte=now) | Q(holder=holder))
        .update(holder=holder, expires_at=now + length)
    )
    return taken == 1


def first_time_today(job: str) -> bool:
    """True for the first caller of the day, whichever process: the row's key is unique."""
    key = f"daily:{job}:{timezone.localdate().isoformat()}"
    _, created = WorkLease.objects.get_or_create(key=key, defaults={"expires_at": timezone.now()})
    return created


def release_lease(key: str, holder: str) -> None:
    WorkLease.objects.filter(key=key, holder=holder).update(holder="", expires_at=timezone.now())


def enqueue_once(key: str, length: dt.timedelta, enqueue: Callable[[], object]) -> bool:
    """Calls `enqueue` unless the mark `key` says the same task is queued and not started yet;
    False when it is. The task clears the mark as it starts (`clear_queued_mark`); a task that
    never starts (its worker died, the queue was purged) lets go of it after `length`. When
    `enqueue` raises, the mark is released and the error goes to the caller."""
    mark = secrets.token_hex(8)  # a new holder each time: only a free or stale mark is taken
    if not acquire_lease(key, mark, length):
        return False
    try:
        enqueue()
    except Exception:
        release_lease(key, mark)
        raise
    return True


def clear_queued_mark(key: str) -> None:
    """The queued task is starting: work asked for from now on is queued anew, as this task
    may have looked before it."""
    now = timezone.now()
    WorkLease.objects.filter(key=key, expires_at__gt=now).update(holder="", expires_at=now)


def mailbox_slot_keys(mailbox: str) -> list[str]:
    return [
        f"mailbox:{mailbox.lower()}:{slot}"
        for slot in range(settings.MICROSOFT_OUTBOX_MAILBOX_SLOTS)
    ]


def acquire_mailbox_slot(mailbox: str, holder: str) -> str | None:
    for key in mailbox_slot_keys(mailbox):
        if acquire_lease(key, holder, lease_length()):
            return key
    return None


def unclaimed(now: dt.datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def claimable(now: dt.datetime) -> QuerySet[OutboxEntry]:
    """Open entries due now, not claimed, whose booking has no earlier open entry."""
    earlier_open = OutboxEntry.objects.filter(
        booking_id=OuterRef("booking_id"), sequence__lt=OuterRef("sequence"), state__in=OPEN
    )
    return (
        OutboxEntry.objects.filter(state__in=OPEN, next_attempt_at__lte=now)
        .filter(unclaimed(now))
        .exclude(Exists(earlier_open))
    )


def claim_next_entry(mailbox: str, holder: str) -> OutboxEntry | None:
    now = timezone.now()
    candidates = (
        claimable(now)
        .filter(mailbox=mailbox)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:20]
    )
    for pk in candidates:
        taken = (
            OutboxEntry.objects.filter(pk=pk, state__in=OPEN)
            .filter(unclaimed(now))
            .update(claimed_by=holder, claimed_until=now + lease_length())
        )
        if taken:
            return OutboxEntry.objects.select_related(
                "booking__space__office", "booking__booker", "organisation"
            ).get(pk=pk)
    return None


def mine(entry: OutboxEntry, holder: str) -> QuerySet[OutboxEntry]:
    """The entry, if this holder still has it (not taken over, not given up meanwhile)."""
    return OutboxEntry.objects.filter(pk=entry.pk, claimed_by=holder, state__in=OPEN)


# --- delivering ----------------------------------------------------------------------------


class Rerouted(Exception):
    """The entry now belongs to another mailbox's queue; that queue delivers it."""


def deliver_due_entries(mailbox: str, *, holder: str | None = None) -> int:
    """Delivers the mailbox's due entries, one after another; returns how many were handled."""
    holder = holder or holder_id()
    mailbox = mailbox.lower()
    clear_queued_mark(queued_key(mailbox))
    handled = 0
    clients: dict[int, GraphClient] = {}
    try:
        for _ in range(100):  # a bound, not a schedule: the scheduler comes back anyway
            slot = acquire_mailbox_slot(mailbox, holder)
            if slot is None:
                return handled  # every slot is busy; their holders look again before leaving
            try:
                while (entry := claim_next_entry(mailbox, holder)) is not None:
                    acquire_lease(slot, holder, lease_length())  # still ours, for longer
                    deliver_entry(entry, holder, clients)
                    handled += 1
            finally:
                release_lease(slot, holder)
            # An entry committed while we held the last free slot found none and left it to
            # us: look again now that the slot is free.
            if not claimable(timezone.now()).filter(mailbox=mailbox).exists():
                return handled
        return handled
    finally:
        for client in clients.values():
            client.close()


def deliver_entry(entry: OutboxEntry, holder: str, clients: dict[int, GraphClient]) -> None:
    try:
        note = write_to_outlook(entry, clients)
    except Rerouted:
        return
    except GraphFailure as failure:
        record_failure(entry, holder, failure)
    except Exception as error:
        # A bug must not lose the change: the entry stays, failing where admins see it.
        logger.exception("Delivering outbox entry %s failed", entry.pk)
        record_failure(entry, holder, GraphFailure(f"Unexpected error: {error!r}"))
    else:
        changes: dict[str, Any] = {
            "state": OutboxEntry.State.DELIVERED,
            "delivered_at": timezone.now(),
            "last_attempt_at": timezone.now(),
            "attempts": entry.attempts + 1,
            "claimed_by": "",
            "claimed_until": None,
        }
        if note:
            changes["note"] = note
        mine(entry, holder).update(**changes)


def record_failure(entry: OutboxEntry, holder: str, failure: GraphFailure) -> None:
    attempts = entry.attempts + 1
    delay = min(
        settings.MICROSOFT_OUTBOX_MAX_RETRY_SECONDS,
        settings.MICROSOFT_OUTBOX_RETRY_SECONDS * 2 ** (attempts - 1),
    ) * random.uniform(0.8, 1.2)  # jitter: entries that failed together don't retry together
    if failure.retry_after:
        delay = max(delay, failure.retry_after)
    now = timezone.now()
    state = (
        OutboxEntry.State.FAILED
        if needs_a_person(failure) or attempts >= VISIBLE_AFTER_ATTEMPTS
        else OutboxEntry.State.PENDING
    )
    logger.warning("Outbox entry %s failed (attempt %s): %s", entry.pk, attempts, failure)
    mine(entry, holder).update(
        state=state,
        attempts=attempts,
        last_error=describe(failure),
        last_attempt_at=now,
        next_attempt_at=now + dt.timedelta(seconds=delay),
        claimed_by="",
        claimed_until=None,
    )


def needs_a_person(failure: GraphFailure) -> bool:
    """Permanent failures (consent, secret, a conflict) rather than throttling or an outage."""
    if failure.status is not None and (failure.status == 429 or failure.status >= 500):
        return False
    return failure.permanent


def describe(failure: GraphFailure) -> str:
    details = ", ".join(str(part) for part in (failure.status, failure.code) if part)
    return f"{failure.message} ({details})" if details else failure.message


def client_of(organisation: Organisation, clients: dict[int, GraphClient]) -> GraphClient:
    """One client per organisation for a run of deliveries, so its token is reused."""
    if organisation.pk not in clients:
        connection = Connection.objects.filter(organisation=organisation).first()
        if connection is None:
            raise GraphFailure(
                "Microsoft 365 is not connected any more: reconnect it in Settings, or give up "
                "on this change.",
                permanent=True,
            )
        clients[organisation.pk] = client_for(
            connection, max_wait_seconds=settings.MICROSOFT_MAX_WAIT_SECONDS
        )
    return clients[organisation.pk]


def write_to_outlook(entry: OutboxEntry, clients: dict[int, GraphClient]) -> str:
    """Makes the event match the booking as it is now; returns a note for admins, if any."""
    booking = entry.booking
    link = RoomLink.objects.filter(space_id=booking.space_id).first()
    client = client_of(entry.organisation, clients)
    if booking.status == Booking.Status.CANCELLED:
        if entry.kind != OutboxEntry.Kind.CANCEL:
            return "The booking was cancelled before this change reached Outlook."
        return cancel_event(client, entry, booking, link)
    if link is None:
        return "The room is no longer linked to Microsoft 365; nothing was written."
    if not booking.graph_event_id:
        return create_event(client, entry, booking, link)
    if entry.kind == OutboxEntry.Kind.CREATE:
        return ""  # created by an earlier delivery of this entry
    move_event(client, entry.mailbox, booking, link, booking.graph_event_id)
    return ""


def create_event(
    client: GraphClient, entry: OutboxEntry, booking: Booking, link: RoomLink
) -> str:
    mailbox = entry.mailbox
    in_room = mailbox == link.mailbox.lower()
    if in_room:
        # Direct writes bypass the room's booking assistant: check for conflicts ourselves.
        # The same read finds our own event if an earlier attempt created it.
        existing = calendar_view(client, mailbox, booking.start, booking.end)
        ours = [e for e in existing if e.transaction_id == str(booking.transaction_id)]
        if ours:
            adopt_event(client, mailbox, booking, link, ours[0])
            return ""
        check_room_is_free(booking, existing)
    payload = {
        **event_times(booking),
        "transactionId": str(booking.transaction_id),
        "showAs": "busy",
        "location": {"displayName": link.display_name or booking.space.name},
        "sensitivity": "private" if booking.is_private else "normal",
    }
    if not in_room:
        payload["attendees"] = [
            {
                "type": "resource",
                "emailAddress": {
                    "address": link.mailbox,
                    "name": link.display_name or booking.space.name,
                },
            }
        ]
    try:
        event = post_event(client, mailbox, payload, booking)
    except GraphFailure as failure:
        if not in_room and failure.status == 404:
            reroute_to_room(entry, booking, link, failure)
        raise
    adopt_event(client, mailbox, booking, link, event)
    return ""


def adopt_event(
    client: GraphClient, mailbox: str, booking: Booking, link: RoomLink, event: Event
) -> None:
    """Keeps the event's ids on the booking, and moves it if an earlier attempt created it
    with times the booking no longer has (Graph answers a repeated transactionId with the
    first event as it was)."""
    store_event_ids(booking, event)
    if (event.start.utc, event.end.utc) != (booking.start, booking.end):
        move_event(client, mailbox, booking, link, event.id)


def move_event(
    client: GraphClient, mailbox: str, booking: Booking, link: RoomLink, event_id: str
) -> None:
    """PATCHes the event to the booking's times. In the room's own calendar the room must be
    free then, as for a create: a direct write bypasses its booking assistant. On a clash the
    event stays where it was and the entry fails with the conflict, for an admin to see."""
    if mailbox == link.mailbox.lower():
        others = [
            e for e in calendar_view(client, mailbox, booking.start, booking.end)
            if e.id != event_id and e.transaction_id != str(booking.transaction_id)
        ]
        check_room_is_free(booking, others, moving=True)
    client.request("PATCH", event_path(mailbox, event_id),
                   json_body=event_times(booking), mailbox=mailbox)


def event_times(booking: Booking) -> dict[str, Any]:
    def when(moment: dt.datetime) -> dict[str, str]:
        return {"dateTime": moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC"}

    return {
        "subject": booking.title or booking.space.name,
        "start": when(booking.start),
        "end": when(booking.end),
    }


def post_event(
    client: GraphClient, mailbox: str, payload: dict[str, Any], booking: Booking
) -> Event:
    """POST the event; an answer that may hide a created event is checked by reading back.

    Graph dedups a repeated transactionId (the contract, section 3), but that behaviour is
    undocumented, so after a timeout or a 5xx we look for the event before sending it again.
    429 and 503 are refusals: Graph did nothing, so we wait as told and send it again.
    """
    path = f"{user_path(mailbox)}/events"
    for attempt in range(1, client.max_attempts + 1):
        try:
            response = client.request("POST", path, json_body=payload, mailbox=mailbox,
                                      retry=False)
            return Event.model_validate(response.json())
        except GraphFailure as failure:
            last = attempt == client.max_attempts
            if failure.status in (429, 503):
                if last:
                    raise
            elif failure.status is None or failure.status >= 500:
                found = find_event_by_transaction(client, mailbox, booking)
                if found is not None:
                    return found
                if last:
                    raise
            else:
                raise
            client.sleep(client.backoff(attempt, failure.retry_after))
    raise AssertionError("unreachable")  # the loop returns or raises


def find_event_by_transaction(client: GraphClient, mailbox: str, booking: Booking) -> Event | None:
    try:
        events = calendar_view(client, mailbox, booking.start, booking.end)
    except GraphFailure:
        return None  # we could not look; the caller tries again, with the same transactionId
    return next((e for e in events if e.transaction_id == str(booking.transaction_id)), None)


def calendar_view(
    client: GraphClient, mailbox: str, start: dt.datetime, end: dt.datetime
) -> list[Event]:
    """Events of the mailbox that share an instant with [start, end).

    Graph also lists events ending exactly at startDateTime (the contract, section 3), so the
    boundary is filtered here.
    """
    params = {
        "startDateTime": start.astimezone(dt.UTC).isoformat(),
        "endDateTime": end.astimezone(dt.UTC).isoformat(),
        "$select": EVENT_FIELDS,
        "$top": "50",
    }
    items: Iterator[dict[str, Any]] = client.paginate(
        f"{user_path(mailbox)}/calendarView", params, mailbox=mailbox, headers=IN_UTC
    )
    events = [Event.model_validate(item) for item in items]
    return [e for e in events if e.start.utc < end and e.end.utc > start]


def check_room_is_free(booking: Booking, events: list[Event], *, moving: bool = False) -> None:
    busy = [e for e in events if not e.is_cancelled and e.show_as != "free"]
    if not busy:
        return
    zone = zoneinfo.ZoneInfo(booking.space.office.timezone)
    first = min(busy, key=lambda e: e.start.utc)
    where = (
        "the room's calendar still has the booking at its old time" if moving
        else "the booking is not in the room's calendar"
    )
    raise GraphFailure(
        f"{booking.space.name} is already booked in Outlook from "
        f"{first.start.utc.astimezone(zone):%Y-%m-%d %H:%M} to "
        f"{first.end.utc.astimezone(zone):%H:%M}; {where}. "
        "Move or cancel one of the two, or give up on this change.",
        code="RoomConflict",
        permanent=True,
    )


def reroute_to_room(
    entry: OutboxEntry, booking: Booking, link: RoomLink, failure: GraphFailure
) -> None:
    """The booker has no mailbox in the tenant: write to the room's calendar instead."""
    note = (
        f"{entry.mailbox} has no mailbox in the Microsoft 365 tenant ({describe(failure)}), "
        "so the event was written directly to the room's calendar."
    )
    room = link.mailbox.lower()
    OutboxEntry.objects.filter(booking=booking, state__in=OPEN).update(
        mailbox=room, note=note, claimed_by="", claimed_until=None,
        next_attempt_at=timezone.now(),
    )
    enqueue_delivery(room)
    raise Rerouted(room)


def store_event_ids(booking: Booking, event: Event) -> None:
    booking.graph_event_id, booking.ical_uid = event.id, event.ical_uid
    Booking.objects.filter(pk=booking.pk).update(
        graph_event_id=event.id, ical_uid=event.ical_uid
    )


def cancel_event(
    client: GraphClient, entry: OutboxEntry, booking: Booking, link: RoomLink | None
) -> str:
    event_id = booking.graph_event_id
    if not event_id and entry_may_have_created(booking):
        # An earlier create had an uncertain answer and the booking was cancelled meanwhile.
        found = find_event_by_transaction(client, entry.mailbox, booking)
        event_id = found.id if found else ""
    if not event_id:
        return "The booking was cancelled before it reached Outlook."
    path = event_path(entry.mailbox, event_id)
    in_room = link is not None and entry.mailbox == link.mailbox.lower()
    try:
        if in_room:
            client.request("DELETE", path, mailbox=entry.mailbox)
        else:
            # As organizer: the room receives a cancellation (a plain DELETE does the same,
            # but cancel says so to every attendee).
            client.request("POST", f"{path}/cancel", json_body={"comment": CANCEL_COMMENT},
                           mailbox=entry.mailbox, retry=True)
    except GraphFailure as failure:
        if failure.status == 404:
            return "The event was already gone from Outlook."
        raise
    return ""


def entry_may_have_created(booking: Booking) -> bool:
    return OutboxEntry.objects.filter(
        booking=booking, kind=OutboxEntry.Kind.CREATE, attempts__gt=0
    ).exists()


# --- scheduling ----------------------------------------------------------------------------


def mailboxes_with_due_entries(now: dt.datetime | None = None) -> list[str]:
    """Mailboxes with entries to deliver now and a free slot to deliver them."""
    now = now or timezone.now()
    due = set(claimable(now).values_list("mailbox", flat=True).distinct())
    if not due:
        return []
    held: dict[str, int] = {}
    for key in WorkLease.objects.filter(key__startswith="mailbox:", expires_at__gt=now).values_list(
        "key", flat=True
    ):
        mailbox = key.split(":", 1)[1].rsplit(":", 1)[0]
        held[mailbox] = held.get(mailbox, 0) + 1
    slots = settings.MICROSOFT_OUTBOX_MAILBOX_SLOTS
    return sorted(m for m in due if held.get(m, 0) < slots)


# --- what admins see and do ----------------------------------------------------------------


def outbox_entries_of(organisation: Organisation) -> QuerySet[OutboxEntry]:
    return OutboxEntry.objects.filter(organisation=organisation)


def entries_needing_attention(organisation: Organisation) -> QuerySet[OutboxEntry]:
    """Open entries that have failed at least once, for the sync health page."""
    return (
        outbox_entries_of(organisation)
        .filter(state__in=OPEN, attempts__gt=0)
        .select_related("booking__space")
        .order_by("-last_attempt_at")
    )


def access_outbox_entry_by_id(organisation: Organisation, entry_id: object) -> OutboxEntry:
    return get_or_404(outbox_entries_of(organisation), entry_id)


def check_can_manage_outbox(entry: OutboxEntry, acting: Account) -> None:
    if not acting.is_admin or acting.organisation_id != entry.organisation_id:
        raise PermissionDenied("Only an administrator of the organisation can do that.")


@transaction.atomic
def do_give_up_outbox_entry(entry: OutboxEntry, *, acting: Account) -> OutboxEntry:
    """Stops retrying an entry; the booking stays as it is here, Outlook as it is there."""
    check_can_manage_outbox(entry, acting)
    now = timezone.now()
    OutboxEntry.objects.filter(pk=entry.pk, state__in=OPEN).update(
        state=OutboxEntry.State.GIVEN_UP, given_up_at=now, given_up_by=acting,
        claimed_by="", claimed_until=None,
    )
    entry.refresh_from_db()
    # The booking's later changes were waiting for this one.
    transaction.on_commit(partial(enqueue_delivery, entry.mailbox))
    return entry


@transaction.atomic
def do_retry_outbox_entry(entry: OutboxEntry, *, acting: Account) -> OutboxEntry:
    """Tries a failing entry again now instead of at its next attempt time."""
    check_can_manage_outbox(entry, acting)
    OutboxEntry.objects.filter(pk=entry.pk, state__in=OPEN).update(next_attempt_at=timezone.now())
    entry.refresh_from_db()
    transaction.on_commit(partial(enqueue_delivery, entry.mailbox))
    return entry
