"""Bookings as Outlook sees them: meetings booked in a room's calendar, and the room's answers.

Outlook meetings booked in a room's calendar, and what Outlook says of the bookings made here
(their event ids, the room's accept or decline).

The Microsoft 365 integration turns Graph's events into `OutlookMeeting`s and calls these
actions; it never writes a Booking row itself. Where each booking may stand is decided by
`bookings.placement` (its rules: confirmed or conflict, waiting order, status_reason).

A meeting is matched to a booking made here when it is that booking's event (room calendar)
or a copy of it (the room's copy of the booker's event): by event id, iCalUId or our
transactionId; and, because the room's copy can come back before the delivery stored the
organizer event's ids, by the booker's own meeting at the booking's very times. Such a
meeting changes nothing but the booking's iCalUId and, when it holds the booking's times,
tells that the room accepted. Every other meeting is an Outlook booking of its own, keyed on
(space, event id).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from openrooms.bookings.models import Booking
from openrooms.bookings.placement import (
    Placement,
    SpaceBookings,
    Times,
    chunked,
    lock_space,
    reconsider_conflicts,
)
from openrooms.spaces.models import Space

LIVE = (Booking.Status.CONFIRMED, Booking.Status.CONFLICT)
DECLINED_REASON = (
    "The room declined this booking in Outlook: its booking assistant found another meeting "
    "at that time or a booking policy of the room (duration, how far ahead) that refuses it."
)


@dataclass(frozen=True)
class OutlookMeeting:
    """One instance of a meeting in a room's calendar, as a booking would hold it. Times are
    UTC; `title` is what may be stored (the integration leaves out what must not be)."""

    event_id: str
    start: dt.datetime
    end: dt.datetime
    ical_uid: str = ""
    transaction_id: uuid.UUID | None = None
    title: str = ""
    is_private: bool = False
    organizer_name: str = ""
    organizer_email: str = ""
    show_as: str = ""
    is_cancelled: bool = False

    @property
    def holds_time(self) -> bool:
        """A cancelled meeting (Outlook keeps it, with isCancelled) or one shown as free holds
        nothing: its booking is cancelled."""
        return not self.is_cancelled and self.show_as != "free"

    @property
    def times(self) -> Times:
        return self.start, self.end


@dataclass
class Outcome:
    applied: int = 0  # meetings applied: own events recorded, meetings placed or cancelled
    removed: int = 0  # bookings cancelled because their event left the room's calendar


def do_apply_outlook_meetings(
    space: Space, meetings: list[OutlookMeeting], removed: list[str]
) -> Outcome:
    """Applies meetings of one room's calendar and the removal of events (by id) at once: a
    whole page of a sync, or one meeting. One transaction holding the space's lock; a few
    queries whatever the number of meetings. Applying the same again changes nothing.

    Should the database refuse the writes (a booking committed by a writer that did not
    queue on the lock), the meetings are applied once more, from a fresh read.
    """
    try:
        return apply_outlook_meetings(space, meetings, removed)
    except IntegrityError:
        return apply_outlook_meetings(space, meetings, removed)


@transaction.atomic
def apply_outlook_meetings(
    space: Space, meetings: list[OutlookMeeting], removed: list[str]
) -> Outcome:
    latest: dict[str, OutlookMeeting] = {}
    for meeting in meetings:  # a meeting repeated within a page: its last version counts
        latest.pop(meeting.event_id, None)
        latest[meeting.event_id] = meeting
    meetings = list(latest.values())
    lock_space(space.pk)
    placement = Placement(space)
    bookings = placement.bookings
    bookings.load_span([meeting.times for meeting in meetings])
    event_ids = [meeting.event_id for meeting in meetings] + removed
    load_identified(bookings, meetings, event_ids)
    outlook = {b.graph_event_id: b for b in bookings.known.values()
               if b.source == Booking.Source.OUTLOOK}
    # Where the meetings were before: conflicts waiting there may get the slot.
    bookings.load_standing_around([
        (outlook[event_id].start, outlook[event_id].end)
        for event_id in event_ids if event_id in outlook
    ])
    own = OwnBookings(bookings.known.values())
    outcome = Outcome(applied=len(meetings))
    new_ical_uids: dict[int, str] = {}
    accepted: set[int] = set()

    for event_id in removed:
        booking = outlook.get(event_id)
        if booking is not None and booking.status in LIVE:
            placement.release(booking)
            outcome.removed += 1
    for meeting in meetings:
        ours = own.of(meeting)
        if ours is not None:
            if not ours.ical_uid and meeting.ical_uid:
                own.set_ical_uid(ours, meeting.ical_uid)
                new_ical_uids[ours.pk] = ours.ical_uid
            holding = not meeting.is_cancelled and meeting.times == (ours.start, ours.end)
            if holding and ours.status == Booking.Status.CONFIRMED and (
                ours.room_response != "accepted"
            ):
                ours.room_response = "accepted"
                accepted.add(ours.pk)
            continue
        booking = outlook.get(meeting.event_id)
        if not meeting.holds_time:
            if booking is not None and booking.status in LIVE:
                placement.release(booking)
            continue
        if booking is None:
            booking = new_outlook_booking(space.pk, meeting.event_id)
            outlook[meeting.event_id] = booking
        fill_outlook_booking(booking, meeting)
        placement.place(booking, meeting.times)

    placement.settle()
    placement.write()
    # Our own bookings: only what Outlook told of them, and only if nobody changed it since.
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


def load_identified(
    bookings: SpaceBookings, meetings: list[OutlookMeeting], event_ids: list[str]
) -> None:
    """Bookings a meeting names that lie beyond the span read: Outlook bookings by event id,
    our own by event id, iCalUId or transactionId. A room with nothing there (a first sync)
    costs one query."""
    outside = bookings.outside()
    if not outside.exists():
        return
    for ids in chunked(event_ids):
        bookings.add(outside.filter(graph_event_id__in=ids))
    made_here = outside.filter(source=Booking.Source.APP)
    for uids in chunked(sorted({m.ical_uid for m in meetings if m.ical_uid})):
        bookings.add(made_here.filter(ical_uid__in=uids))
    transaction_ids = {m.transaction_id for m in meetings if m.transaction_id is not None}
    for txs in chunked(sorted(transaction_ids)):
        bookings.add(made_here.filter(transaction_id__in=txs))


class OwnBookings:
    """The bookings made here among those read, by every way a meeting can name one."""

    def __init__(self, known: Iterable[Booking]) -> None:
        self._by: dict[tuple[str, object], list[Booking]] = {}
        for booking in known:
            if booking.source == Booking.Source.APP:
                for key in own_keys(booking):
                    self._by.setdefault(key, []).append(booking)

    def of(self, meeting: OutlookMeeting) -> Booking | None:
        keys: list[tuple[str, object]] = [("id", meeting.event_id)]
        if meeting.ical_uid:
            keys.append(("uid", meeting.ical_uid))
        if meeting.transaction_id is not None:
            keys.append(("tx", meeting.transaction_id))
        found = {b.pk: b for key in keys for b in self._by.get(key, [])}
        if found:
            return min(found.values(), key=lambda b: (b.start, b.pk))
        if not meeting.organizer_email:
            return None
        same_times = [
            b for b in self._by.get(("at", meeting.times), [])
            if not b.ical_uid and b.status != Booking.Status.CANCELLED
            and b.booker is not None and b.booker.email.lower() == meeting.organizer_email
        ]
        return min(same_times, key=lambda b: b.pk) if same_times else None

    def set_ical_uid(self, booking: Booking, ical_uid: str) -> None:
        booking.ical_uid = ical_uid
        self._by.setdefault(("uid", ical_uid), []).append(booking)


def own_keys(booking: Booking) -> Iterator[tuple[str, object]]:
    """How a meeting can name a booking made here."""
    if booking.graph_event_id:
        yield "id", booking.graph_event_id
    if booking.ical_uid:
        yield "uid", booking.ical_uid
    if booking.transaction_id is not None:
        yield "tx", booking.transaction_id
    yield "at", (booking.start, booking.end)  # the room's copy before its ids came back


@cache
def booking_defaults() -> tuple[list[object], dict[str, int]]:
    """Every concrete field's default, in order, and each field's position."""
    fields = Booking._meta.concrete_fields
    return [f.get_default() for f in fields], {f.attname: n for n, f in enumerate(fields)}


def new_outlook_booking(space_id: int, event_id: str) -> Booking:
    """Booking(space_id=..., source=OUTLOOK, graph_event_id=...), a conflict until placed,
    built from positional values: a first sync makes hundreds at once, and Django's keyword
    path (a default looked up for every field left out) costs three times as much."""
    defaults, position = booking_defaults()
    values = defaults.copy()
    values[position["space_id"]] = space_id
    values[position["source"]] = Booking.Source.OUTLOOK
    values[position["graph_event_id"]] = event_id
    values[position["status"]] = Booking.Status.CONFLICT
    return Booking(*values)  # type: ignore[misc]  # the django plugin takes *values for the id


def fill_outlook_booking(booking: Booking, meeting: OutlookMeeting) -> None:
    booking.is_private = meeting.is_private
    booking.title = meeting.title[:255]
    booking.ical_uid = meeting.ical_uid[:512]
    booking.organizer_name = meeting.organizer_name[:200]
    booking.organizer_email = meeting.organizer_email[:254]
    booking.show_as = meeting.show_as[:20]


# --- what Outlook says of the bookings made here -------------------------------------------


def do_record_event_ids(booking: Booking, *, event_id: str, ical_uid: str) -> None:
    """The booking's event now exists in Outlook with these ids."""
    booking.graph_event_id, booking.ical_uid = event_id, ical_uid
    Booking.objects.filter(pk=booking.pk).update(graph_event_id=event_id, ical_uid=ical_uid)


def do_record_room_accepted(booking: Booking) -> None:
    """The room's booking assistant accepted the booking (its event says so)."""
    Booking.objects.filter(pk=booking.pk, room_response="").update(room_response="accepted")


@transaction.atomic
def do_mark_declined(booking: Booking, *, reason: str = DECLINED_REASON) -> Booking:
    """The room refused a booking made here: it stops holding the slot; booker and admins
    see why in My bookings."""
    lock_space(booking.space_id)
    updated = Booking.objects.filter(pk=booking.pk, status=Booking.Status.CONFIRMED).update(
        status=Booking.Status.DECLINED, room_response="declined", status_reason=reason,
        updated_at=timezone.now(),
    )
    booking.refresh_from_db()
    if updated:
        reconsider_conflicts(booking.space, [(booking.start, booking.end)])
    return booking
