"""The inbound sync: meetings booked, moved or cancelled in Outlook become bookings here.

Per linked room, `pull_room_calendar` runs one round of `calendarView/delta` (the contract,
section 4) and keeps where it stands in the room's `CalendarSyncState`:
- the first round, a round after `410` / `syncStateNotFound`, and a round once the window is a
  day old are *full* syncs over [now - MICROSOFT_SYNC_DAYS_BACK, now + ..._DAYS_AHEAD]; a full
  sync reconciles: the room's Outlook bookings in the window it did not see are cancelled;
- other rounds follow the stored delta link (it carries the window: nothing is sent again);
- items may be replayed or lie outside the window: each is filtered and upserted by its id,
  so applying one twice changes nothing; a round that fails keeps the old link and is replayed.

Delta gives instances (series expanded, as calendarView does), each its own booking keyed on
(space, event id). Delta ignores `$select`: `graph.CalendarInstance` keeps id, iCalUId,
transactionId, start, end, isCancelled, showAs, sensitivity and organizer (and the subject,
stored only when the organisation shows subjects and the meeting is not private); the rest of
Graph's JSON is dropped as each page is parsed. Pages are asked for DELTA_PAGE_SIZE at a time.

Our own events coming back (matched by transactionId, event id or iCalUId to a booking made
here) change nothing but may tell the room's answer: its copy appearing at the booking's times
means accepted; the organizer's event saying the room declined marks the booking declined.
An Outlook meeting over a confirmed booking is kept with status `conflict`, never raised at a
user and never dropped.

A page of a full round (and any page of at least BULK_FROM_ITEMS items) is applied at once
(`apply_page`, `do_apply_changes`): one transaction holding the space's lock reads the bookings
the page touches, matches and places every item in memory and writes the changes in a few
statements (new bookings by COPY on PostgreSQL), so a first sync costs a few queries per page
instead of a few per meeting. A small incremental round (the usual: a change or two) goes item
by item, each in its own short transaction. Both give the same bookings: the tests run the
same pages through both (test_inbound_bulk.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import uuid
import zoneinfo
from bisect import bisect_left, bisect_right
from collections import namedtuple
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from openrooms.accounts.models import Organisation
from openrooms.bookings.models import Booking
from openrooms.bookings.services import lock_space, overlapping
from openrooms.integrations.microsoft365.graph import (
    CalendarInstance,
    GraphClient,
    GraphFailure,
)
from openrooms.integrations.microsoft365.models import (
    CalendarSyncState,
    Connection,
    OutboxEntry,
    RoomLink,
)
from openrooms.integrations.microsoft365.outbox import (
    acquire_lease,
    describe,
    holder_id,
    release_lease,
)
from openrooms.integrations.microsoft365.services import client_for, webhooks_enabled

logger = logging.getLogger(__name__)

# Outlook's "private" flag; confidential is stricter still. Neither shows a subject here.
PRIVATE_SENSITIVITIES = {"private", "confidential"}
LIVE = (Booking.Status.CONFIRMED, Booking.Status.CONFLICT)
# Microsoft documents no maximum `odata.maxpagesize` for calendarView/delta (event-delta and
# "Get incremental changes to events in a calendar view" only say it sets the most events a
# page holds; the paging guide says each API caps its own). The documented cap of Outlook
# collections is 1000 ($top of List messages). Graph may still send smaller pages: the round
# follows @odata.nextLink whatever size comes.
DELTA_PAGE_SIZE = 1000
# Pages this big (and every page of a full round) are applied together, see the docstring.
BULK_FROM_ITEMS = 20
# Rows an executemany or bulk_update writes at once, and ids an IN (...) reads: SQLite caps
# a statement's parameters (999 in Django's SQLite backend's reckoning).
WRITE_BATCH = 500
READ_BATCH = 500
# The longest a failing room's pull waits for its next try (seconds), see record_pull_failure.
PULL_BACKOFF_TRANSIENT = 300.0
PULL_BACKOFF_PERMANENT = 3600.0
DECLINED_REASON = (
    "The room declined this booking in Outlook: its booking assistant found another meeting "
    "at that time or a booking policy of the room (duration, how far ahead) that refuses it."
)


@dataclass
class PullResult:
    full: bool = False
    restarted: bool = False  # Graph lost the sync state (410): a full sync was run instead
    applied: int = 0
    removed: int = 0
    reconciled: int = 0
    error: str = ""


# --- the window ----------------------------------------------------------------------------


def sync_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a full sync started at `now`, on whole hours (stable across retries)."""
    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return (
        hour - dt.timedelta(days=settings.MICROSOFT_SYNC_DAYS_BACK),
        hour + dt.timedelta(days=settings.MICROSOFT_SYNC_DAYS_AHEAD),
    )


def needs_full_sync(state: CalendarSyncState, now: dt.datetime) -> bool:
    if not state.delta_link or state.window_start is None or state.last_full_sync_at is None:
        return True
    age = now - state.last_full_sync_at
    return age > dt.timedelta(hours=settings.MICROSOFT_SYNC_WINDOW_REFRESH_HOURS)


def is_sync_reset(failure: GraphFailure) -> bool:
    return failure.status == 410 or failure.code.lower() == "syncstatenotfound"


# --- pulling -------------------------------------------------------------------------------


def pull_room_calendar(
    link: RoomLink, *, client: GraphClient | None = None, now: dt.datetime | None = None
) -> PullResult:
    """Brings the room's Outlook meetings into bookings; a failure is stored on its state."""
    now = now or timezone.now()
    state, _ = CalendarSyncState.objects.get_or_create(link=link)
    CalendarSyncState.objects.filter(pk=state.pk).update(last_pull_at=now)
    connection = Connection.objects.filter(organisation_id=link.organisation_id).first()
    if connection is None:
        return PullResult(error="Microsoft 365 is not connected.")
    own_client = client is None
    client = client or client_for(connection, max_wait_seconds=settings.MICROSOFT_MAX_WAIT_SECONDS)
    try:
        try:
            result = run_round(link, state, client, now=now, full=needs_full_sync(state, now))
        except GraphFailure as failure:
            if not is_sync_reset(failure):
                raise
            logger.info("Delta state of %s lost (%s): full sync", link.mailbox, failure)
            result = run_round(link, state, client, now=now, full=True)
            result.restarted = True
        learn_room_answers(link, client, now=now)
    except GraphFailure as failure:
        logger.warning("Pulling the calendar of %s failed: %s", link.mailbox, failure)
        return record_pull_failure(
            state, describe(failure), now=now, permanent=failure.permanent
        )
    except Exception as error:
        # A bug must not hide: the room's sync state shows it to admins, the next pull retries.
        logger.exception("Pulling the calendar of %s failed", link.mailbox)
        return record_pull_failure(
            state, f"Unexpected error: {error!r}", now=now, permanent=True
        )
    finally:
        if own_client:
            client.close()
    return result


def record_pull_failure(
    state: CalendarSyncState, error: str, *, now: dt.datetime, permanent: bool
) -> PullResult:
    """Keeps the error where admins see it; the delta link stays, so the next pull replays.
    Pulls that keep failing wait longer: up to an hour when a person must act (a revoked
    consent, a mailbox Graph cannot reach), so such a room is not asked every minute; up to
    PULL_BACKOFF_TRANSIENT when Graph is throttling or down, so a room catches up within
    minutes of Graph coming back."""
    failures = state.failures + 1
    cap = PULL_BACKOFF_PERMANENT if permanent else PULL_BACKOFF_TRANSIENT
    wait = min(settings.MICROSOFT_POLL_SECONDS * 2 ** min(failures - 1, 10), cap)
    CalendarSyncState.objects.filter(pk=state.pk).update(
        last_error=error, last_error_at=now, failures=failures,
        next_pull_at=now + dt.timedelta(seconds=max(wait, settings.MICROSOFT_POLL_SECONDS)),
    )
    return PullResult(error=error)


def run_round(
    link: RoomLink, state: CalendarSyncState, client: GraphClient, *, now: dt.datetime,
    full: bool,
) -> PullResult:
    result = PullResult(full=full)
    if full:
        window = sync_window(now)
        pages = client.calendar_delta(
            link.mailbox, start=window[0], end=window[1], page_size=DELTA_PAGE_SIZE
        )
    else:
        assert state.window_start is not None and state.window_end is not None
        window = (state.window_start, state.window_end)
        pages = client.calendar_delta(
            link.mailbox, delta_link=state.delta_link, page_size=DELTA_PAGE_SIZE
        )
    organisation = link.organisation
    seen: set[str] = set()
    delta_link = ""
    for page in pages:  # one page in memory at a time
        if full or len(page.items) >= BULK_FROM_ITEMS:
            outcome = apply_page(link, organisation, page.items, window)
            result.applied += outcome.applied
            result.removed += outcome.removed
            seen.update(item.id for item in page.items if not item.is_removed)
        else:
            for item in page.items:
                if item.is_removed:
                    result.removed += do_remove_outlook_event(link, item.id)
                    continue
                if apply_item(link, organisation, item, window):
                    result.applied += 1
                seen.add(item.id)
        delta_link = page.delta_link or delta_link
    if full:
        result.reconciled = do_reconcile_room(link, seen, window)
    changes = {
        "delta_link": delta_link, "window_start": window[0], "window_end": window[1],
        "last_success_at": now, "last_error": "", "failures": 0,
    }
    if full:
        changes["last_full_sync_at"] = now
    CalendarSyncState.objects.filter(pk=state.pk).update(**changes)
    return result


def apply_item(
    link: RoomLink, organisation: Organisation, item: CalendarInstance,
    window: tuple[dt.datetime, dt.datetime],
) -> bool:
    """Applies one instance; False when it is skipped (a master, outside the window)."""
    times = applicable_times(item, window)
    if times is None:
        return False
    start, end = times
    own = own_booking_of(link, item, start, end)
    if own is not None:
        do_record_room_copy(own, item, start, end)
    else:
        do_apply_outlook_event(link, organisation, item)
    return True


def applicable_times(
    item: CalendarInstance, window: tuple[dt.datetime, dt.datetime]
) -> tuple[dt.datetime, dt.datetime] | None:
    """The instance's [start, end) in UTC, or None when it is not applied: a series master
    (its instances come on their own), no times, or outside the window."""
    if item.start is None or item.end is None or item.type == "seriesMaster":
        return None
    start, end = item.start.utc, item.end.utc
    if end <= window[0] or start >= window[1] or end <= start:
        return None
    return start, end


def own_booking_of(
    link: RoomLink, item: CalendarInstance, start: dt.datetime, end: dt.datetime
) -> Booking | None:
    """The booking made here that this event is (room calendar) or is a copy of (booker's)."""
    made_here = Booking.objects.filter(space_id=link.space_id, source=Booking.Source.APP)
    match = Q(graph_event_id=item.id)
    if item.ical_uid:
        match |= Q(ical_uid=item.ical_uid)
    if item.transaction_id:
        with contextlib.suppress(ValueError):  # someone else's transactionId: any text
            match |= Q(transaction_id=uuid.UUID(item.transaction_id))
    found = made_here.filter(match).first()
    if found is not None:
        return found
    # The room's copy can come back before the delivery stored the organizer event's ids:
    # the booker's own meeting at the booking's very times is that booking.
    organizer = organizer_of(item)[1]
    if not organizer:
        return None
    return (
        made_here.filter(ical_uid="", start=start, end=end, booker__email__iexact=organizer)
        .exclude(status=Booking.Status.CANCELLED)
        .first()
    )


def organizer_of(item: CalendarInstance) -> tuple[str, str]:
    address = item.organizer.email_address if item.organizer else None
    if address is None:
        return "", ""
    return (address.name or "")[:200], (address.address or "").lower()[:254]


# --- the writes ----------------------------------------------------------------------------


@transaction.atomic
def do_apply_outlook_event(
    link: RoomLink, organisation: Organisation, item: CalendarInstance
) -> Booking | None:
    """Creates or updates the booking of an Outlook meeting (one instance) of the room.

    Never raises at anyone over a clash: a meeting over a confirmed booking becomes a
    conflict. A cancelled meeting (Outlook keeps it with isCancelled) or one shown as free
    holds nothing: its booking is cancelled.
    """
    assert item.start is not None and item.end is not None
    booking = (
        Booking.objects.select_for_update()
        .filter(space_id=link.space_id, source=Booking.Source.OUTLOOK, graph_event_id=item.id)
        .first()
    )
    if item.is_cancelled or item.show_as == "free":
        if booking is not None and booking.status in LIVE:
            cancel_outlook_booking(booking)
        return booking
    booking = booking or Booking(
        space=link.space, source=Booking.Source.OUTLOOK, graph_event_id=item.id
    )
    before = (booking.start, booking.end) if booking.pk else None
    fill_outlook_booking(booking, organisation, item, item.start.utc, item.end.utc)
    place_outlook_booking(booking)
    if before is not None and before != (booking.start, booking.end):
        recheck_conflicts(booking.space_id, *before)
    return booking


def place_outlook_booking(booking: Booking) -> None:
    """Saves the booking confirmed if its time is free here, else as a conflict."""
    lock_space(booking.space_id)
    clash = overlapping(booking.space, booking.start, booking.end).exclude(pk=booking.pk).first()
    if clash is None:
        booking.status, booking.status_reason = Booking.Status.CONFIRMED, ""
        try:
            with transaction.atomic():
                booking.save()
            return
        except IntegrityError:
            # PostgreSQL's exclusion constraint: a booking here committed meanwhile.
            clash = overlapping(booking.space, booking.start, booking.end).exclude(
                pk=booking.pk
            ).first()
            if clash is None:
                raise
    booking.status = Booking.Status.CONFLICT
    booking.status_reason = conflict_reason(booking, clash)
    booking.save()


def conflict_reason(booking: Booking, clash: Booking) -> str:
    return clash_reason(zoneinfo.ZoneInfo(booking.space.office.timezone), clash)


def clash_reason(zone: zoneinfo.ZoneInfo, clash: Booking) -> str:
    who = clash.booker.name or clash.booker.email if clash.booker_id else clash.organizer_name
    return (
        f"Booked in Outlook over {who or 'another booking'}'s booking of "
        f"{clash.start.astimezone(zone):%Y-%m-%d %H:%M}–{clash.end.astimezone(zone):%H:%M}; "
        "one of the two must move."
    )


def cancel_outlook_booking(booking: Booking) -> None:
    booking.status = Booking.Status.CANCELLED
    booking.cancelled_at = timezone.now()
    booking.status_reason = ""
    booking.save(update_fields=["status", "cancelled_at", "status_reason", "updated_at"])
    recheck_conflicts(booking.space_id, booking.start, booking.end)


def recheck_conflicts(space_id: int, start: dt.datetime, end: dt.datetime) -> None:
    """Conflicts over a slot that was just freed get it, first come first served."""
    for waiting in Booking.objects.filter(
        space_id=space_id, status=Booking.Status.CONFLICT, start__lt=end, end__gt=start
    ).order_by("created_at", "pk"):
        place_outlook_booking(waiting)


@transaction.atomic
def do_remove_outlook_event(link: RoomLink, event_id: str) -> int:
    """An event deleted from the room's calendar (or gone from the window): its booking is
    cancelled. Returns how many bookings changed (0 for a replay or an event of ours)."""
    changed = 0
    for booking in Booking.objects.select_for_update().filter(
        space_id=link.space_id, source=Booking.Source.OUTLOOK, graph_event_id=event_id,
        status__in=LIVE,
    ):
        cancel_outlook_booking(booking)
        changed += 1
    return changed


def do_reconcile_room(
    link: RoomLink, seen: set[str], window: tuple[dt.datetime, dt.datetime]
) -> int:
    """After a full sync: the room's Outlook bookings in the window it did not see are gone.

    Reads outside a transaction (on SQLite every transaction takes the write lock): the
    pull's lease keeps other pulls of the room away, and the cancelling transaction reads
    each booking again under the space's lock."""
    stale = [
        event_id for event_id in Booking.objects.filter(
            space_id=link.space_id, source=Booking.Source.OUTLOOK, status__in=LIVE,
            start__lt=window[1], end__gt=window[0],
        ).values_list("graph_event_id", flat=True)
        if event_id not in seen
    ]
    if not stale:
        return 0
    return do_apply_changes(link, link.organisation, [], stale).removed


@transaction.atomic
def do_record_room_copy(
    booking: Booking, item: CalendarInstance, start: dt.datetime, end: dt.datetime
) -> None:
    """Our own event seen in the room's calendar: nothing of the booking changes but, when it
    is there at the booking's times, the room has accepted it."""
    if not booking.ical_uid and item.ical_uid:
        Booking.objects.filter(pk=booking.pk, ical_uid="").update(ical_uid=item.ical_uid[:512])
    holding = not item.is_cancelled and (start, end) == (booking.start, booking.end)
    confirmed = booking.status == Booking.Status.CONFIRMED
    if holding and confirmed and booking.room_response != "accepted":
        Booking.objects.filter(pk=booking.pk, status=Booking.Status.CONFIRMED).update(
            room_response="accepted"
        )


@transaction.atomic
def do_mark_declined(booking: Booking, *, reason: str = DECLINED_REASON) -> Booking:
    """The room refused a booking made here: it stops holding the slot; booker and admins
    see why in My bookings."""
    updated = Booking.objects.filter(pk=booking.pk, status=Booking.Status.CONFIRMED).update(
        status=Booking.Status.DECLINED, room_response="declined", status_reason=reason,
        updated_at=timezone.now(),
    )
    booking.refresh_from_db()
    if updated:
        recheck_conflicts(booking.space_id, booking.start, booking.end)
    return booking


# --- a page at once ------------------------------------------------------------------------

# What applying an Outlook meeting may change on its booking (own bookings: see below).
APPLIED_FIELDS = (
    "status", "status_reason", "title", "start", "end", "ical_uid", "organizer_name",
    "organizer_email", "show_as", "is_private", "cancelled_at",
)
Times = tuple[dt.datetime, dt.datetime]
Applied = namedtuple("Applied", APPLIED_FIELDS)  # a booking's applied fields as they were read


@dataclass
class PageOutcome:
    applied: int = 0  # instances applied: own events recorded, meetings placed or cancelled
    removed: int = 0  # bookings cancelled because their event left the room's calendar


def apply_page(
    link: RoomLink, organisation: Organisation, items: list[CalendarInstance],
    window: tuple[dt.datetime, dt.datetime],
) -> PageOutcome:
    """Applies a page of delta items together, with the result of applying them one by one."""
    latest: dict[str, CalendarInstance] = {}
    for item in items:  # an item repeated within the page: its last version counts
        latest.pop(item.id, None)
        latest[item.id] = item
    removed = [item.id for item in latest.values() if item.is_removed]
    upserts = [
        (item, times) for item in latest.values()
        if not item.is_removed and (times := applicable_times(item, window)) is not None
    ]
    try:
        return do_apply_changes(link, organisation, upserts, removed)
    except IntegrityError:
        # PostgreSQL's exclusion constraint refused a write: a booking was committed by a
        # writer that does not queue on the space's lock. Item by item, it becomes a conflict.
        logger.warning("Applying a page of %s at once was refused; item by item", link.mailbox)
        outcome = PageOutcome()
        for item in items:
            if item.is_removed:
                outcome.removed += do_remove_outlook_event(link, item.id)
            elif apply_item(link, organisation, item, window):
                outcome.applied += 1
        return outcome


@dataclass
class HeldSlots:
    """The confirmed bookings of a space as intervals sorted by start. No two overlap, so
    sorted by start they are sorted by end too, and a clash is found by bisection."""

    starts: list[dt.datetime] = field(default_factory=list)
    ends: list[dt.datetime] = field(default_factory=list)
    holders: list[Booking] = field(default_factory=list)

    def clash(self, start: dt.datetime, end: dt.datetime) -> Booking | None:
        """The earliest confirmed booking sharing an instant with [start, end), if any."""
        index = bisect_right(self.ends, start)
        if index < len(self.starts) and self.starts[index] < end:
            return self.holders[index]
        return None

    def hold(self, booking: Booking) -> None:
        index = bisect_left(self.starts, booking.start)
        self.starts.insert(index, booking.start)
        self.ends.insert(index, booking.end)
        self.holders.insert(index, booking)


@transaction.atomic
def do_apply_changes(
    link: RoomLink, organisation: Organisation,
    upserts: list[tuple[CalendarInstance, Times]], removed: list[str],
) -> PageOutcome:
    """Applies instances (with their UTC times) and removals of one room's calendar at once.

    Holds the space's lock: bookings made here meanwhile wait for the commit, so what is read
    below stays true until then. The same rules as item by item: our own events are recorded
    (`do_record_room_copy`); a meeting over a confirmed booking is a conflict, meetings
    between themselves first come (by start, then event id) first served; cancelled or free
    meetings and removed events hold nothing, and conflicts over the slots they free get
    them (`recheck_conflicts`). Reads and writes are a few queries, whatever the number.
    """
    lock_space(link.space_id)
    now = timezone.now()
    bookings = SpaceBookings(link.space_id)
    bookings.load_span([times for _, times in upserts])
    event_ids = [item.id for item, _ in upserts] + removed
    bookings.load_identified(
        event_ids=event_ids,
        ical_uids={item.ical_uid[:512] for item, _ in upserts if item.ical_uid},
        transaction_ids={tx for item, _ in upserts if (tx := as_uuid(item.transaction_id))},
    )
    outlook = {b.graph_event_id: b for b in bookings.known.values()
               if b.source == Booking.Source.OUTLOOK}
    # Where the page's meetings were before: conflicts waiting there may get the slot.
    bookings.load_standing_around([
        (outlook[event_id].start, outlook[event_id].end)
        for event_id in event_ids if event_id in outlook
    ])
    outcome = PageOutcome(applied=len(upserts))
    freed: list[Times] = []
    placing: list[Booking] = []
    created: list[Booking] = []
    new_ical_uids: dict[int, str] = {}
    accepted: set[int] = set()

    def release(booking: Booking) -> None:
        freed.append((booking.start, booking.end))
        booking.status, booking.cancelled_at, booking.status_reason = (
            Booking.Status.CANCELLED, now, "",
        )

    for event_id in removed:
        booking = outlook.get(event_id)
        if booking is not None and booking.status in LIVE:
            release(booking)
            outcome.removed += 1
    for item, (start, end) in upserts:
        own = bookings.own_event(item, start, end)
        if own is not None:
            if not own.ical_uid and item.ical_uid:
                bookings.set_ical_uid(own, item.ical_uid[:512])
                new_ical_uids[own.pk] = own.ical_uid
            holding = not item.is_cancelled and (start, end) == (own.start, own.end)
            if holding and own.status == Booking.Status.CONFIRMED and (
                own.room_response != "accepted"
            ):
                own.room_response = "accepted"
                accepted.add(own.pk)
            continue
        booking = outlook.get(item.id)
        if item.is_cancelled or item.show_as == "free":
            if booking is not None and booking.status in LIVE:
                release(booking)
            continue
        if booking is None:
            booking = new_outlook_booking(link.space_id, item.id)
            outlook[item.id] = booking
            created.append(booking)
        elif (booking.start, booking.end) != (start, end) and booking.status in LIVE:
            freed.append((booking.start, booking.end))
        fill_outlook_booking(booking, organisation, item, start, end)
        placing.append(booking)

    zone = zoneinfo.ZoneInfo(link.space.office.timezone)
    place_bookings(bookings, placing, freed, zone)
    write_changes(bookings, created, now)
    for pks in chunked(list(new_ical_uids)):
        Booking.objects.filter(pk__in=pks, ical_uid="").update(ical_uid=Case(
            *[When(pk=pk, then=Value(new_ical_uids[pk])) for pk in pks],
            default=F("ical_uid"),
        ))
    for pks in chunked(list(accepted)):
        Booking.objects.filter(pk__in=pks, status=Booking.Status.CONFIRMED).update(
            room_response="accepted"
        )
    return outcome


@cache
def booking_defaults() -> tuple[list[object], dict[str, int]]:
    """Every concrete field's default, in order, and each field's position."""
    fields = Booking._meta.concrete_fields
    return [f.get_default() for f in fields], {f.attname: n for n, f in enumerate(fields)}


def new_outlook_booking(space_id: int, event_id: str) -> Booking:
    """Booking(space_id=..., source=OUTLOOK, graph_event_id=...), conflict until placed, built
    from positional values: a first sync makes hundreds at once, and Django's keyword path
    (a default looked up for every field left out) costs three times as much."""
    defaults, position = booking_defaults()
    values = defaults.copy()
    values[position["space_id"]] = space_id
    values[position["source"]] = Booking.Source.OUTLOOK
    values[position["graph_event_id"]] = event_id
    values[position["status"]] = Booking.Status.CONFLICT
    return Booking(*values)


def fill_outlook_booking(
    booking: Booking, organisation: Organisation, item: CalendarInstance,
    start: dt.datetime, end: dt.datetime,
) -> None:
    """What an Outlook meeting holds, as `do_apply_outlook_event` writes it."""
    private = (item.sensitivity or "").lower() in PRIVATE_SENSITIVITIES
    booking.is_private = private
    # A private meeting's subject is never stored, whatever the setting says.
    shown = organisation.show_meeting_subjects and not private
    booking.title = (item.subject or "")[:255] if shown else ""
    booking.start, booking.end = start, end
    booking.ical_uid = item.ical_uid[:512]
    booking.organizer_name, booking.organizer_email = organizer_of(item)
    booking.show_as = (item.show_as or "")[:20]
    booking.cancelled_at = None


def place_bookings(
    bookings: SpaceBookings, placing: list[Booking], freed: list[Times],
    zone: zoneinfo.ZoneInfo,
) -> None:
    """Decides confirmed or conflict for `placing`, then gives the conflicts over `freed`
    slots their turn, first come first served, as `recheck_conflicts` does."""
    placed = {id(booking) for booking in placing}
    held = HeldSlots()
    kept: set[int] = set()
    for booking in sorted(bookings.known.values(), key=lambda b: b.start):
        was = bookings.original(booking)
        if was is not None and was.status == Booking.Status.CONFIRMED and (
            booking.status != Booking.Status.CANCELLED
            and (booking.start, booking.end) == (was.start, was.end)
        ):  # a confirmed booking that stays where it is keeps its slot
            held.hold(booking)
            kept.add(id(booking))
            if id(booking) in placed:
                booking.status_reason = ""
    waiting = sorted(
        (b for b in placing if id(b) not in kept), key=lambda b: (b.start, b.graph_event_id)
    )
    rechecked = [
        b for b in bookings.known.values()
        if id(b) not in placed and b.status == Booking.Status.CONFLICT
        and any(b.start < end and b.end > start for start, end in freed)
    ]
    bookings.load_confirmed_around(rechecked, held)
    for booking in waiting + sorted(rechecked, key=lambda b: (b.created_at, b.pk)):
        clash = held.clash(booking.start, booking.end)
        if clash is None:
            booking.status, booking.status_reason = Booking.Status.CONFIRMED, ""
            held.hold(booking)
        else:
            booking.status = Booking.Status.CONFLICT
            booking.status_reason = clash_reason(zone, clash)


def write_changes(bookings: SpaceBookings, created: list[Booking], now: dt.datetime) -> None:
    """Writes what changed in an order PostgreSQL's exclusion constraint accepts at every
    statement: slots are freed first, taken after."""
    changed = [
        b for b in bookings.known.values()
        if b.source == Booking.Source.OUTLOOK and bookings.changed(b)
    ]
    for booking in changed:
        booking.updated_at = now
    fields = [*APPLIED_FIELDS, "updated_at"]
    freeing, moving = [], []
    for booking in changed:
        was = bookings.original(booking)
        if was.status == Booking.Status.CONFIRMED and booking.status != was.status:
            freeing.append(booking)
        elif was.status == Booking.Status.CONFIRMED and (booking.start, booking.end) != (
            was.start, was.end
        ):
            moving.append(booking)  # confirmed before and after: let go of the old slot first
    Booking.objects.bulk_update(freeing, fields, batch_size=WRITE_BATCH)
    for pks in chunked([b.pk for b in moving]):
        Booking.objects.filter(pk__in=pks).update(status=Booking.Status.CONFLICT)
    freeing_pks = {b.pk for b in freeing}
    Booking.objects.bulk_update(
        [b for b in changed if b.pk not in freeing_pks], fields, batch_size=WRITE_BATCH
    )
    insert_bookings(created, now)


def insert_bookings(bookings: list[Booking], now: dt.datetime) -> None:
    """bulk_create without the ORM's per-value work, which cost more than the database's own:
    PostgreSQL by COPY (a room's 385 rows: 29 ms instead of bulk_create's 62, a fifth less of
    the server's CPU; constraints and the exclusion check apply to every row as ever), SQLite
    by an executemany of plain rows. Nothing reads the new rows' ids.
    """
    if not bookings:
        return
    db = transaction.get_connection()
    fields = [f for f in Booking._meta.concrete_fields if not f.primary_key]
    values_of = attrgetter(*(f.attname for f in fields))
    for booking in bookings:
        booking.created_at = booking.updated_at = now
    quote = db.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    table = quote(Booking._meta.db_table)
    if db.vendor == "postgresql":
        # psycopg's own cursor: Django's wrapper has no COPY. Its errors (the exclusion
        # constraint's) become Django's, as the ORM's would.
        with db.cursor() as cursor, db.wrap_database_errors, cursor.cursor.copy(
            f"COPY {table} ({columns}) FROM STDIN"
        ) as copy:
            for booking in bookings:
                copy.write_row(values_of(booking))
        return
    prepared = [
        (index, f) for index, f in enumerate(fields)
        if f.get_internal_type() in {"DateTimeField", "UUIDField"}
    ]
    rows = []
    for booking in bookings:
        row = list(values_of(booking))
        for index, f in prepared:
            if row[index] is not None:
                row[index] = f.get_db_prep_save(row[index], db)
        rows.append(row)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608 - model names
    with db.cursor() as cursor:
        for chunk in chunked(rows, WRITE_BATCH):
            cursor.executemany(sql, chunk)


class SpaceBookings:
    """The bookings of one space that a page touches, read once, with what they were."""

    def __init__(self, space_id: int) -> None:
        self.space_id = space_id
        self.known: dict[int, Booking] = {}
        self.loaded_span: Times | None = None
        self._was: dict[int, Applied] = {}
        self._own: dict[tuple[str, object], list[Booking]] = {}

    def _query(self) -> QuerySet[Booking]:
        return Booking.objects.filter(space_id=self.space_id).select_related("booker")

    def _add(self, found: Iterable[Booking]) -> None:
        for booking in found:
            if booking.pk in self.known:
                continue
            self.known[booking.pk] = booking
            self._was[booking.pk] = Applied(*(getattr(booking, name) for name in APPLIED_FIELDS))
            if booking.source == Booking.Source.APP:
                for key in own_keys(booking):
                    self._own.setdefault(key, []).append(booking)

    def load_span(self, times: list[Times]) -> None:
        """Every booking of the space from the page's first start to its last end."""
        if times:
            self.loaded_span = (min(s for s, _ in times), max(e for _, e in times))
            self._add(self._outside(inside=True))

    def _outside(self, *, inside: bool = False) -> QuerySet[Booking]:
        if self.loaded_span is None:
            return self._query().none() if inside else self._query()
        overlaps = Q(start__lt=self.loaded_span[1], end__gt=self.loaded_span[0])
        return self._query().filter(overlaps if inside else ~overlaps)

    def load_identified(
        self, *, event_ids: list[str], ical_uids: set[str], transaction_ids: set[uuid.UUID]
    ) -> None:
        """Bookings an item names that lie beyond the span: Outlook bookings by event id, our
        own by event id, iCalUId or transactionId. A room with nothing there (a first sync)
        costs one query."""
        outside = self._outside()
        if not outside.exists():
            return
        for ids in chunked(event_ids):
            self._add(outside.filter(graph_event_id__in=ids))
        made_here = outside.filter(source=Booking.Source.APP)
        for uids in chunked(sorted(ical_uids)):
            self._add(made_here.filter(ical_uid__in=uids))
        for txs in chunked(sorted(transaction_ids)):
            self._add(made_here.filter(transaction_id__in=txs))

    def load_standing_around(self, times: list[Times]) -> None:
        """The bookings still standing over `times` beyond the span read so far."""
        span = self.loaded_span
        beyond = [(s, e) for s, e in times if span is None or s < span[0] or e > span[1]]
        if beyond:
            start, end = min(s for s, _ in beyond), max(e for _, e in beyond)
            self._add(self._query().filter(start__lt=end, end__gt=start)
                      .exclude(status=Booking.Status.CANCELLED))

    def load_confirmed_around(self, waiting: list[Booking], held: HeldSlots) -> None:
        """Confirmed bookings that clash with `waiting` beyond the span read so far."""
        if not waiting:
            return
        start, end = min(b.start for b in waiting), max(b.end for b in waiting)
        span = self.loaded_span
        if span is not None and span[0] <= start and end <= span[1]:
            return
        before = set(self.known)
        self._add(self._query().filter(
            status=Booking.Status.CONFIRMED, start__lt=end, end__gt=start
        ))
        for pk in set(self.known) - before:
            held.hold(self.known[pk])

    def original(self, booking: Booking) -> Applied | None:
        """The booking's applied fields as they were read, None for a new one."""
        return self._was.get(booking.pk) if booking.pk is not None else None

    def changed(self, booking: Booking) -> bool:
        was = self.original(booking)
        return was is not None and was != tuple(getattr(booking, name) for name in APPLIED_FIELDS)

    def own_event(
        self, item: CalendarInstance, start: dt.datetime, end: dt.datetime
    ) -> Booking | None:
        """`own_booking_of`, in memory."""
        keys: list[tuple[str, object]] = [("id", item.id)]
        if item.ical_uid:
            keys.append(("uid", item.ical_uid[:512]))
        if (tx := as_uuid(item.transaction_id)) is not None:
            keys.append(("tx", tx))
        found = {b.pk: b for key in keys for b in self._own.get(key, [])}
        if found:
            return min(found.values(), key=lambda b: (b.start, b.pk))
        organizer = organizer_of(item)[1]
        if not organizer:
            return None
        same_times = [
            b for b in self._own.get(("at", (start, end)), [])
            if not b.ical_uid and b.status != Booking.Status.CANCELLED
            and b.booker is not None and b.booker.email.lower() == organizer
        ]
        return min(same_times, key=lambda b: b.pk) if same_times else None

    def set_ical_uid(self, booking: Booking, ical_uid: str) -> None:
        booking.ical_uid = ical_uid
        self._own.setdefault(("uid", ical_uid), []).append(booking)


def own_keys(booking: Booking) -> Iterator[tuple[str, object]]:
    """How an item can name a booking made here (see `own_booking_of`)."""
    if booking.graph_event_id:
        yield "id", booking.graph_event_id
    if booking.ical_uid:
        yield "uid", booking.ical_uid
    if booking.transaction_id is not None:
        yield "tx", booking.transaction_id
    yield "at", (booking.start, booking.end)  # the room's copy before its ids came back


def as_uuid(value: str | None) -> uuid.UUID | None:
    """A transactionId we may have set; someone else's can be any text."""
    if value:
        with contextlib.suppress(ValueError):
            return uuid.UUID(value)
    return None


def chunked(values: list, size: int = READ_BATCH) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def learn_room_answers(link: RoomLink, client: GraphClient, *, now: dt.datetime) -> None:
    """Asks the organizer's event what the room answered, for bookings made here in the
    booker's calendar the room has not accepted yet (a declined one leaves no room copy)."""
    waiting = Booking.objects.filter(
        space_id=link.space_id, source=Booking.Source.APP, status=Booking.Status.CONFIRMED,
        room_response="", end__gt=now,
    ).exclude(graph_event_id="")
    room = link.mailbox.lower()
    for booking in waiting:
        entries = OutboxEntry.objects.filter(booking=booking)
        last = entries.order_by("-sequence").first()
        if last is None or last.mailbox == room:
            continue  # written in the room's calendar: no booking assistant answers
        if entries.filter(state__in=OutboxEntry.OPEN_STATES).exists():
            continue  # a change is on its way; the room answers that one
        try:
            event = client.event_attendees(last.mailbox, booking.graph_event_id)
        except GraphFailure as failure:
            if failure.status == 404:
                continue
            raise
        answer = event.response_of(room)
        if answer == "accepted":
            Booking.objects.filter(pk=booking.pk, room_response="").update(
                room_response="accepted"
            )
        elif answer == "declined":
            do_mark_declined(booking)


# --- scheduling ----------------------------------------------------------------------------


def pull_key(link_id: int) -> str:
    return f"pull:{link_id}"


_pull_clients: dict[int, tuple[dt.datetime, GraphClient]] = {}
_pull_clients_lock = threading.Lock()


def pull_client(connection: Connection) -> GraphClient:
    """The client this process pulls the organisation's rooms with: one for every pull, so a
    pull reuses the token and the TLS connection of the one before (a first sync is thousands
    of pulls). Saving the connection (a new secret, a test) changes `updated_at`: a new client.
    """
    with _pull_clients_lock:
        version, client = _pull_clients.get(connection.pk, (None, None))
        if client is None or version != connection.updated_at:
            # The one replaced is left to the garbage collector: a thread may still use it.
            client = client_for(connection, max_wait_seconds=settings.MICROSOFT_MAX_WAIT_SECONDS)
            _pull_clients[connection.pk] = (connection.updated_at, client)
        return client


def pull_with_lease(link_id: int) -> str:
    """Pulls the room unless another worker is pulling it now (a per-room lease)."""
    holder = holder_id()
    key = pull_key(link_id)
    length = dt.timedelta(seconds=settings.MICROSOFT_OUTBOX_LEASE_SECONDS)
    link = RoomLink.objects.select_related("organisation", "space__office").filter(
        pk=link_id
    ).first()
    if link is None:
        return "unlinked"
    if not acquire_lease(key, holder, length):
        return "busy"
    connection = Connection.objects.filter(organisation_id=link.organisation_id).first()
    try:
        result = pull_room_calendar(
            link, client=pull_client(connection) if connection is not None else None
        )
    finally:
        release_lease(key, holder)
    return result.error or "ok"


def connected_room_states() -> QuerySet[CalendarSyncState]:
    """The sync states of the linked rooms of connected organisations, created where missing
    (a room just imported has none yet)."""
    connected = RoomLink.objects.filter(organisation__microsoft365__isnull=False)
    CalendarSyncState.objects.bulk_create(
        [CalendarSyncState(link_id=pk)
         for pk in connected.filter(sync_state__isnull=True).values_list("pk", flat=True)],
        ignore_conflicts=True,
    )
    return CalendarSyncState.objects.filter(link__in=connected)


def rooms_due_for_pull(now: dt.datetime | None = None) -> list[int]:
    """Linked rooms of connected organisations whose next pull is due; each is then not due
    again for MICROSOFT_POLL_SECONDS, or MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS when Microsoft
    notifies us of its changes (a live subscription: polling is only a safety net then). The
    one ticking scheduler calls this."""
    if settings.MICROSOFT_POLL_SECONDS <= 0:
        return []  # polling turned off
    now = now or timezone.now()
    due = list(
        connected_room_states()
        .filter(Q(next_pull_at__isnull=True) | Q(next_pull_at__lte=now))
        .values_list("pk", "link_id", "subscription_id", "subscription_expires_at")
    )
    webhooks = webhooks_enabled()
    notified = {
        pk for pk, _, subscription, expires in due
        if webhooks and subscription and expires is not None and expires > now
    }
    for pks, seconds in (
        (notified, settings.MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS),
        ({pk for pk, *_ in due} - notified, settings.MICROSOFT_POLL_SECONDS),
    ):
        if pks:
            CalendarSyncState.objects.filter(pk__in=pks).update(
                next_pull_at=now + dt.timedelta(seconds=seconds)
            )
    return [link_id for _, link_id, *_ in due]


# --- what admins and bookers see -------------------------------------------------------------


def sync_states_of(organisation: Organisation) -> QuerySet[CalendarSyncState]:
    return CalendarSyncState.objects.filter(link__organisation=organisation)
