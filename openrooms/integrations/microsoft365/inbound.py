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
(space, event id). Delta ignores `$select`: `graph.CalendarItem` keeps id, iCalUId,
transactionId, start, end, isCancelled, showAs, sensitivity, organizer and attendees' answers
(and the subject, stored only when the organisation shows subjects and the meeting is not
private); the rest of Graph's JSON is dropped as each page is parsed.

Our own events coming back (matched by transactionId, event id or iCalUId to a booking made
here) change nothing but may tell the room's answer: its copy appearing at the booking's times
means accepted; the organizer's event saying the room declined marks the booking declined.
An Outlook meeting over a confirmed booking is kept with status `conflict`, never raised at a
user and never dropped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import uuid
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from openrooms.accounts.models import Organisation
from openrooms.bookings.models import Booking
from openrooms.bookings.services import lock_space, overlapping
from openrooms.integrations.microsoft365.graph import CalendarItem, GraphClient, GraphFailure
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
from openrooms.integrations.microsoft365.services import client_for

logger = logging.getLogger(__name__)

# Outlook's "private" flag; confidential is stricter still. Neither shows a subject here.
PRIVATE_SENSITIVITIES = {"private", "confidential"}
LIVE = (Booking.Status.CONFIRMED, Booking.Status.CONFLICT)
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
        return record_pull_failure(state, describe(failure), now=now)
    except Exception as error:
        # A bug must not hide: the room's sync state shows it to admins, the next pull retries.
        logger.exception("Pulling the calendar of %s failed", link.mailbox)
        return record_pull_failure(state, f"Unexpected error: {error!r}", now=now)
    finally:
        if own_client:
            client.close()
    return result


def record_pull_failure(state: CalendarSyncState, error: str, *, now: dt.datetime) -> PullResult:
    """Keeps the error where admins see it; the delta link stays, so the next pull replays.
    Pulls that keep failing wait longer (up to an hour), so a room Graph cannot reach (an
    on-premises mailbox, a revoked consent) is not asked every minute."""
    failures = state.failures + 1
    wait = min(settings.MICROSOFT_POLL_SECONDS * 2 ** min(failures - 1, 10), 3600.0)
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
        pages = client.calendar_delta(link.mailbox, start=window[0], end=window[1])
    else:
        assert state.window_start is not None and state.window_end is not None
        window = (state.window_start, state.window_end)
        pages = client.calendar_delta(link.mailbox, delta_link=state.delta_link)
    organisation = link.organisation
    seen: set[str] = set()
    delta_link = ""
    for page in pages:
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
    link: RoomLink, organisation: Organisation, item: CalendarItem,
    window: tuple[dt.datetime, dt.datetime],
) -> bool:
    """Applies one instance; False when it is skipped (a master, outside the window)."""
    if item.start is None or item.end is None or item.type == "seriesMaster":
        return False
    start, end = item.start.utc, item.end.utc
    if end <= window[0] or start >= window[1] or end <= start:
        return False
    own = own_booking_of(link, item, start, end)
    if own is not None:
        do_record_room_copy(own, item, start, end)
    else:
        do_apply_outlook_event(link, organisation, item)
    return True


def own_booking_of(
    link: RoomLink, item: CalendarItem, start: dt.datetime, end: dt.datetime
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


def organizer_of(item: CalendarItem) -> tuple[str, str]:
    address = item.organizer.email_address if item.organizer else None
    if address is None:
        return "", ""
    return (address.name or "")[:200], (address.address or "").lower()[:254]


# --- the writes ----------------------------------------------------------------------------


@transaction.atomic
def do_apply_outlook_event(
    link: RoomLink, organisation: Organisation, item: CalendarItem
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
    private = (item.sensitivity or "").lower() in PRIVATE_SENSITIVITIES
    booking.is_private = private
    # A private meeting's subject is never stored, whatever the setting says.
    shown = organisation.show_meeting_subjects and not private
    booking.title = (item.subject or "")[:255] if shown else ""
    booking.start, booking.end = item.start.utc, item.end.utc
    booking.ical_uid = item.ical_uid[:512]
    booking.organizer_name, booking.organizer_email = organizer_of(item)
    booking.show_as = (item.show_as or "")[:20]
    booking.cancelled_at = None
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
    zone = zoneinfo.ZoneInfo(booking.space.office.timezone)
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


@transaction.atomic
def do_reconcile_room(
    link: RoomLink, seen: set[str], window: tuple[dt.datetime, dt.datetime]
) -> int:
    """After a full sync: the room's Outlook bookings in the window it did not see are gone."""
    stale = [
        pk for pk, event_id in Booking.objects.filter(
            space_id=link.space_id, source=Booking.Source.OUTLOOK, status__in=LIVE,
            start__lt=window[1], end__gt=window[0],
        ).values_list("pk", "graph_event_id")
        if event_id not in seen
    ]
    for booking in Booking.objects.select_for_update().filter(pk__in=stale):
        cancel_outlook_booking(booking)
    return len(stale)


@transaction.atomic
def do_record_room_copy(
    booking: Booking, item: CalendarItem, start: dt.datetime, end: dt.datetime
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
    try:
        result = pull_room_calendar(link)
    finally:
        release_lease(key, holder)
    return result.error or "ok"


def rooms_due_for_pull(now: dt.datetime | None = None) -> list[int]:
    """Linked rooms of connected organisations whose next pull is due; each is then not due
    again for MICROSOFT_POLL_SECONDS (the one ticking scheduler calls this)."""
    if settings.MICROSOFT_POLL_SECONDS <= 0:
        return []  # polling turned off
    now = now or timezone.now()
    connected = RoomLink.objects.filter(organisation__microsoft365__isnull=False)
    CalendarSyncState.objects.bulk_create(
        [CalendarSyncState(link_id=pk)
         for pk in connected.filter(sync_state__isnull=True).values_list("pk", flat=True)],
        ignore_conflicts=True,
    )
    due = list(
        CalendarSyncState.objects.filter(link__in=connected)
        .filter(Q(next_pull_at__isnull=True) | Q(next_pull_at__lte=now))
        .values_list("pk", "link_id")
    )
    CalendarSyncState.objects.filter(pk__in=[pk for pk, _ in due]).update(
        next_pull_at=now + dt.timedelta(seconds=settings.MICROSOFT_POLL_SECONDS)
    )
    return [link_id for _, link_id in due]


# --- what admins and bookers see -------------------------------------------------------------


def sync_states_of(organisation: Organisation) -> QuerySet[CalendarSyncState]:
    return CalendarSyncState.objects.filter(link__organisation=organisation)
