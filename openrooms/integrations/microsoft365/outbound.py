"""Bookings to Outlook: changes recorded in the outbox, then written to Outlook by a worker.

Changes are recorded in the booking's transaction, then written to Outlook (the booker's
calendar, or in room mode the room's) by a worker, so a booking is never lost or doubled however
Graph behaves.

Recording: `record_booking_change` receives `bookings.signals.booking_changed` inside the
booking action's transaction and adds an `OutboxEntry` when the room is linked to Microsoft 365
and the organisation is connected; the delivery task is enqueued only once that commits, and
only if none is queued for the mailbox already (`enqueue_delivery`).

Delivering (`deliver_due_entries(mailbox)`, run by the `deliver_outbox` task):
- a worker first takes one of the mailbox's few slots (a lease), so however many worker
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

`write_event` and `remove_event` are the writes themselves; Test settings' write probe runs
them too.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import zoneinfo
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django_tasks import task

from openrooms.accounts.models import Account, Organisation
from openrooms.bookings.models import Booking
from openrooms.bookings.outlook import do_record_event_ids
from openrooms.integrations.microsoft365.clients import connection_of, shared_client
from openrooms.integrations.microsoft365.explain import describe
from openrooms.integrations.microsoft365.graph.client import GraphClient
from openrooms.integrations.microsoft365.graph.failures import GraphFailure
from openrooms.integrations.microsoft365.graph.replies import Event
from openrooms.integrations.microsoft365.models import (
    Connection,
    OutboxEntry,
    RoomLink,
)
from openrooms.integrations.microsoft365.room_mailboxes import (
    RoomNotInOutlook,
    flag_if_on_premises,
)
from openrooms.jobs.heartbeat import claim_length
from openrooms.jobs.leases import (
    acquire_lease,
    clear_queued_mark,
    enqueue_once,
    holder_id,
    lease_key,
    leases_held,
    release_lease,
)
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
CANCEL_COMMENT = "Cancelled in openrooms."
# How long "a delivery of this mailbox is queued" holds when that delivery never starts (its
# worker died, the queue was purged): then the next change or scheduler tick queues another.
QUEUED_LEASE = dt.timedelta(seconds=30)


# --- recording, in the booking's transaction ------------------------------------------------


def record_booking_change(sender: object, *, booking: Booking, change: str, **_: Any) -> None:
    """Adds the outbox entry for a booking change, when the room syncs with Microsoft 365."""
    if booking.source != Booking.Source.APP:
        return  # a meeting that came from Outlook is already there
    link = RoomLink.objects.filter(space_id=booking.space_id).first()
    if link is None:
        return
    connection = connection_of(link.organisation_id)
    if connection is None:
        return
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
    if connection.write_mode == Connection.WriteMode.BOOKER_CALENDAR and booking.booker is not None:
        return booking.booker.email.lower()
    return link.mailbox.lower()


def enqueue_delivery(mailbox: str) -> None:
    """Queues a delivery of the mailbox's due entries, unless one is queued and not started
    yet: that one delivers them all, so each commit and each scheduler tick need not add
    another task (`deliver_due_entries` clears the mark as it starts)."""
    key = lease_key("delivery_queued", mailbox=mailbox.lower())
    try:
        enqueue_once(key, QUEUED_LEASE, partial(deliver_outbox.enqueue, mailbox))
    except Exception:
        # The entry is committed; the scheduler enqueues due entries it finds.
        logger.exception("Could not enqueue the outbox delivery for %s", mailbox)


# --- claiming ------------------------------------------------------------------------------


def extend_entry_claims(prefix: str, until: dt.datetime) -> int:
    return OutboxEntry.objects.filter(
        claimed_by__startswith=prefix, claimed_until__gt=timezone.now()
    ).update(claimed_until=until)


def release_entry_claims(prefix: str) -> int:
    return OutboxEntry.objects.filter(claimed_by__startswith=prefix).update(
        claimed_by="", claimed_until=None
    )


def acquire_mailbox_slot(mailbox: str, holder: str) -> str | None:
    for slot in range(settings.MICROSOFT_OUTBOX_MAILBOX_SLOTS):
        key = lease_key("mailbox_slot", mailbox=mailbox.lower(), slot=slot)
        if acquire_lease(key, holder, claim_length()):
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
            .update(claimed_by=holder, claimed_until=now + claim_length())
        )
        if taken:
            return OutboxEntry.objects.select_related(
                "booking__space__office", "booking__booker", "organisation"
            ).get(pk=pk)
    return None


def mine(entry: OutboxEntry, holder: str) -> QuerySet[OutboxEntry]:
    """The entry, if this holder still has it (not taken over, not given up meanwhile)."""
    return OutboxEntry.objects.filter(pk=entry.pk, claimed_by=holder, state__in=OPEN)


def mailboxes_with_due_entries(now: dt.datetime | None = None) -> list[str]:
    """Mailboxes with entries to deliver now and a free slot to deliver them (the scheduler
    queues a delivery for each)."""
    now = now or timezone.now()
    due = set(claimable(now).values_list("mailbox", flat=True).distinct())
    if not due:
        return []
    held: dict[str, int] = {}
    for key in leases_held("mailbox:", now):
        mailbox = key.split(":", 1)[1].rsplit(":", 1)[0]
        held[mailbox] = held.get(mailbox, 0) + 1
    slots = settings.MICROSOFT_OUTBOX_MAILBOX_SLOTS
    return sorted(m for m in due if held.get(m, 0) < slots)


# --- delivering ----------------------------------------------------------------------------


class Rerouted(Exception):
    """The entry now belongs to another mailbox's queue; that queue delivers it."""


@task()
def deliver_outbox(mailbox: str) -> int:
    """Delivers the mailbox's due outbox entries; enqueued when a booking change commits and
    by the scheduler for retries. Safe to run twice at once: entries are claimed one by one."""
    return deliver_due_entries(mailbox)


def deliver_due_entries(mailbox: str, *, holder: str | None = None) -> int:
    """Delivers the mailbox's due entries, one after another; returns how many were handled."""
    holder = holder or holder_id()
    mailbox = mailbox.lower()
    clear_queued_mark(lease_key("delivery_queued", mailbox=mailbox))
    handled = 0
    for _ in range(100):  # a bound, not a schedule: the scheduler comes back anyway
        slot = acquire_mailbox_slot(mailbox, holder)
        if slot is None:
            return handled  # every slot is busy; their holders look again before leaving
        try:
            while (entry := claim_next_entry(mailbox, holder)) is not None:
                acquire_lease(slot, holder, claim_length())  # still ours, for longer
                deliver_entry(entry, holder)
                handled += 1
        finally:
            release_lease(slot, holder)
        # An entry committed while we held the last free slot found none and left it to
        # us: look again now that the slot is free.
        if not claimable(timezone.now()).filter(mailbox=mailbox).exists():
            return handled
    return handled


def deliver_entry(entry: OutboxEntry, holder: str) -> None:
    try:
        note = write_to_outlook(entry)
    except Rerouted:
        return
    except GraphFailure as failure:
        record_failure(entry, holder, as_room_problem(entry, failure))
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


def as_room_problem(entry: OutboxEntry, failure: GraphFailure) -> GraphFailure:
    """A failure writing to the room's own mailbox that says it is on-premises flags the room:
    no later attempt can succeed."""
    link = RoomLink.objects.filter(space_id=entry.booking.space_id).first()
    if link is not None and entry.mailbox == link.mailbox.lower() and flag_if_on_premises(
        link, failure
    ):
        return RoomNotInOutlook(link)
    return failure


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
        OutboxEntry.State.GIVEN_UP if isinstance(failure, RoomNotInOutlook)
        else OutboxEntry.State.FAILED
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


def client_of(organisation: Organisation) -> GraphClient:
    connection = connection_of(organisation)
    if connection is None:
        raise GraphFailure(
            "Microsoft 365 is not connected any more: reconnect it in Settings, or give up "
            "on this change.",
            permanent=True,
        )
    return shared_client(connection)


def write_to_outlook(entry: OutboxEntry) -> str:
    """Makes the event match the booking as it is now; returns a note for admins, if any."""
    booking = entry.booking
    link = RoomLink.objects.filter(space_id=booking.space_id).first()
    client = client_of(entry.organisation)
    if booking.status == Booking.Status.CANCELLED:
        if entry.kind != OutboxEntry.Kind.CANCEL:
            return "The booking was cancelled before this change reached Outlook."
        return cancel_booking_event(client, entry, booking, link)
    if link is None:
        return "The room is no longer linked to Microsoft 365; nothing was written."
    if link.mailbox_problem:
        raise RoomNotInOutlook(link)
    draft = draft_of(booking, link)
    in_room = entry.mailbox == link.mailbox.lower()
    if not booking.graph_event_id:
        try:
            event = write_event(client, entry.mailbox, draft, in_room=in_room)
        except GraphFailure as failure:
            if not in_room and failure.status == 404:
                reroute_to_room(entry, booking, link, failure)
            raise
        do_record_event_ids(booking, event_id=event.id, ical_uid=event.ical_uid)
        return ""
    if entry.kind == OutboxEntry.Kind.CREATE:
        return ""  # created by an earlier delivery of this entry
    move_event(client, entry.mailbox, draft, booking.graph_event_id, in_room=in_room)
    return ""


# --- the writes: a booking's event, or Test settings' probe --------------------------------


@dataclass(frozen=True)
class EventDraft:
    """What an event written for a booking holds."""

    subject: str
    start: dt.datetime
    end: dt.datetime
    transaction_id: str
    room_mailbox: str
    room_name: str
    private: bool = False
    show_as: str = "busy"
    # The office's zone, for the words of a clash.
    zone_name: str = "UTC"


def draft_of(booking: Booking, link: RoomLink) -> EventDraft:
    return EventDraft(
        subject=booking.title or booking.space.name,
        start=booking.start,
        end=booking.end,
        transaction_id=str(booking.transaction_id),
        room_mailbox=link.mailbox,
        room_name=link.display_name or booking.space.name,
        private=booking.is_private,
        zone_name=booking.space.office.timezone,
    )


def write_event(
    client: GraphClient, mailbox: str, draft: EventDraft, *, in_room: bool
) -> Event:
    """Creates the draft's event in `mailbox`: the room's own calendar (`in_room`), or the
    booker's with the room invited. Converges: an event an earlier attempt made (the same
    transactionId) is taken and moved to the draft's times instead of made again."""
    if in_room:
        # Direct writes bypass the room's booking assistant: check for conflicts ourselves.
        # The same read finds our own event if an earlier attempt created it.
        existing = client.calendar_view(mailbox, draft.start, draft.end)
        ours = [e for e in existing if e.transaction_id == draft.transaction_id]
        if ours:
            return adopt_event(client, mailbox, draft, ours[0], in_room=in_room)
        check_room_is_free(draft, existing)
    resources = None if in_room else [(draft.room_mailbox, draft.room_name)]
    event = post_event(client, mailbox, draft, resources)
    return adopt_event(client, mailbox, draft, event, in_room=in_room)


def adopt_event(
    client: GraphClient, mailbox: str, draft: EventDraft, event: Event, *, in_room: bool
) -> Event:
    """Moves the event if an earlier attempt created it with times the draft no longer has
    (Graph answers a repeated transactionId with the first event as it was)."""
    if (event.start.utc, event.end.utc) != (draft.start, draft.end):
        move_event(client, mailbox, draft, event.id, in_room=in_room)
    return event


def move_event(
    client: GraphClient, mailbox: str, draft: EventDraft, event_id: str, *, in_room: bool
) -> None:
    """PATCHes the event to the draft's times. In the room's own calendar the room must be
    free then, as for a create: a direct write bypasses its booking assistant. On a clash the
    event stays where it was and the entry fails with the conflict, for an admin to see."""
    if in_room:
        others = [
            e for e in client.calendar_view(mailbox, draft.start, draft.end)
            if e.id != event_id and e.transaction_id != draft.transaction_id
        ]
        check_room_is_free(draft, others, moving=True)
    client.update_event(mailbox, event_id, subject=draft.subject, start=draft.start,
                        end=draft.end)


def post_event(
    client: GraphClient, mailbox: str, draft: EventDraft,
    resources: list[tuple[str, str]] | None,
) -> Event:
    """POST the event; an answer that may hide a created event is checked by reading back.

    Graph dedups a repeated transactionId (the contract, section 3), but that behaviour is
    undocumented, so after a timeout or a 5xx we look for the event before sending it again.
    429 and 503 are refusals: Graph did nothing, so we wait as told and send it again.
    """
    for attempt in range(1, client.max_attempts + 1):
        try:
            return client.create_event(
                mailbox, subject=draft.subject, start=draft.start, end=draft.end,
                transaction_id=draft.transaction_id, show_as=draft.show_as,
                location=draft.room_name, private=draft.private, resources=resources,
            )
        except GraphFailure as failure:
            last = attempt == client.max_attempts
            if failure.status in (429, 503):
                if last:
                    raise
            elif failure.status is None or failure.status >= 500:
                found = find_event_by_transaction(
                    client, mailbox, draft.transaction_id, draft.start, draft.end
                )
                if found is not None:
                    return found
                if last:
                    raise
            else:
                raise
            client.sleep(client.backoff(attempt, failure.retry_after))
    raise AssertionError("unreachable")  # the loop returns or raises


def find_event_by_transaction(
    client: GraphClient, mailbox: str, transaction_id: str, start: dt.datetime, end: dt.datetime
) -> Event | None:
    """The event with this transactionId between `start` and `end`, if Graph can be asked."""
    try:
        events = client.calendar_view(mailbox, start, end)
    except GraphFailure:
        return None  # we could not look; the caller tries again, with the same transactionId
    return next((e for e in events if e.transaction_id == transaction_id), None)


def check_room_is_free(draft: EventDraft, events: list[Event], *, moving: bool = False) -> None:
    busy = [e for e in events if not e.is_cancelled and e.show_as != "free"]
    if not busy:
        return
    zone = zoneinfo.ZoneInfo(draft.zone_name)
    first = min(busy, key=lambda e: e.start.utc)
    where = (
        "the room's calendar still has the booking at its old time" if moving
        else "the booking is not in the room's calendar"
    )
    raise GraphFailure(
        f"{draft.room_name} is already booked in Outlook from "
        f"{first.start.utc.astimezone(zone):%Y-%m-%d %H:%M} to "
        f"{first.end.utc.astimezone(zone):%H:%M}; {where}. "
        "Move or cancel one of the two, or give up on this change.",
        code="RoomConflict",
        permanent=True,
    )


def remove_event(client: GraphClient, mailbox: str, event_id: str, *, in_room: bool) -> bool:
    """Takes the event out of Outlook: DELETE in the room's own calendar; in the booker's, the
    organizer's cancel, so the room receives a cancellation. False when it was gone already."""
    try:
        if in_room:
            client.delete_event(mailbox, event_id)
        else:
            client.cancel_event(mailbox, event_id, comment=CANCEL_COMMENT)
    except GraphFailure as failure:
        if failure.status == 404:
            return False
        raise
    return True


def cancel_booking_event(
    client: GraphClient, entry: OutboxEntry, booking: Booking, link: RoomLink | None
) -> str:
    event_id = booking.graph_event_id
    if not event_id and entry_may_have_created(booking):
        # An earlier create had an uncertain answer and the booking was cancelled meanwhile.
        found = find_event_by_transaction(
            client, entry.mailbox, str(booking.transaction_id), booking.start, booking.end
        )
        event_id = found.id if found else ""
    if not event_id:
        return "The booking was cancelled before it reached Outlook."
    in_room = link is not None and entry.mailbox == link.mailbox.lower()
    if not remove_event(client, entry.mailbox, event_id, in_room=in_room):
        return "The event was already gone from Outlook."
    return ""


def entry_may_have_created(booking: Booking) -> bool:
    return OutboxEntry.objects.filter(
        booking=booking, kind=OutboxEntry.Kind.CREATE, attempts__gt=0
    ).exists()


NO_MAILBOX_IN_TENANT = "has no mailbox in the Microsoft 365 tenant"


def reroute_to_room(
    entry: OutboxEntry, booking: Booking, link: RoomLink, failure: GraphFailure
) -> None:
    """The booker has no mailbox in the tenant: write to the room's calendar instead."""
    note = (
        f"{entry.mailbox} {NO_MAILBOX_IN_TENANT} ({describe(failure)}), "
        "so the event was written directly to the room's calendar."
    )
    room = link.mailbox.lower()
    OutboxEntry.objects.filter(booking=booking, state__in=OPEN).update(
        mailbox=room, note=note, claimed_by="", claimed_until=None,
        next_attempt_at=timezone.now(),
    )
    enqueue_delivery(room)
    raise Rerouted(room)


# --- what admins see and do ----------------------------------------------------------------


def outbox_entries_of(organisation: Organisation) -> QuerySet[OutboxEntry]:
    return OutboxEntry.objects.filter(organisation=organisation)


def oldest_undelivered_age(
    organisation: Organisation | None = None, now: dt.datetime | None = None
) -> dt.timedelta | None:
    """How long the oldest change not yet in Outlook has waited (of one organisation, or of
    all for readiness); None when every change is delivered."""
    entries = OutboxEntry.objects.filter(state__in=OPEN)
    if organisation is not None:
        entries = entries.filter(organisation=organisation)
    oldest = entries.order_by("created_at").values_list("created_at", flat=True).first()
    return None if oldest is None else (now or timezone.now()) - oldest


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
