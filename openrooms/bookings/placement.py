"""Where a booking may stand: the one place that decides confirmed, conflict or refused.

Every writer comes through here: bookings made, moved and cancelled in the app
(`bookings.services`), Outlook meetings one at a time or a page at a time, declines and the
room's answers (`bookings.outlook`). The rules, once:

1. Only confirmed bookings hold a slot, and no two confirmed bookings of a space share an
   instant. The database refuses it too: PostgreSQL's exclusion constraint (migration 0002),
   SQLite's triggers (migration 0004).
2. A confirmed booking keeps its slot while it stays where it is: nothing that comes later
   displaces it.
3. A booking made in the app whose slot is taken is refused (`BookingConflict`); an Outlook
   meeting whose slot is taken is kept as a *conflict*, never dropped.
4. Waiting order: when several bookings want a slot (conflicts over a slot just freed, the
   meetings of one page), they are served first come first served: by `created_at` (the
   meetings of one page arrive together), then start, then Outlook event id, then id.
5. `status_reason`: a conflict names the booking it clashes with *now* (rewritten whenever it
   is reconsidered); a declined booking says why the room refused it; confirmed and
   cancelled bookings have none.

Every write holds the space's row lock (`lock_space`) from its first read to its commit, so
what it read stays true until then; on SQLite each transaction holds the database's write
lock from BEGIN IMMEDIATE. A `Placement` reads the bookings a change touches once, decides
in memory and writes what changed in a few statements, so a page of a thousand meetings costs
a few queries, not a few per meeting.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import NamedTuple, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from openrooms.bookings.errors import BookingConflict
from openrooms.bookings.models import Booking
from openrooms.spaces.models import Space

Times = tuple[dt.datetime, dt.datetime]


class Placed(NamedTuple):
    """A booking's placed fields as they were read."""

    status: str
    status_reason: str
    title: str
    start: dt.datetime
    end: dt.datetime
    ical_uid: str
    organizer_name: str
    organizer_email: str
    show_as: str
    is_private: bool
    cancelled_at: dt.datetime | None


# What placing an Outlook meeting may change on its booking; a Placement writes these back.
PLACED_FIELDS = Placed._fields
# Rows an executemany or bulk_update writes at once, and ids an IN (...) reads: SQLite caps
# a statement's parameters (999 in Django's SQLite backend's reckoning).
WRITE_BATCH = 500
READ_BATCH = 500

T = TypeVar("T")


def lock_space(space_id: int) -> None:
    """Queues this transaction behind others writing bookings of the space (PostgreSQL).

    Without it, two concurrent inserts over the same time each wait in the exclusion check for
    the other to finish: PostgreSQL breaks that deadlock by failing one with an error, not a
    conflict.
    """
    list(Space.objects.select_for_update().filter(pk=space_id).values_list("pk", flat=True))


def overlapping(space_id: int, start: dt.datetime, end: dt.datetime) -> QuerySet[Booking]:
    """Confirmed bookings of the space that share any instant with [start, end)."""
    return Booking.objects.filter(
        space_id=space_id, status=Booking.Status.CONFIRMED, start__lt=end, end__gt=start
    )


def waiting_order(booking: Booking) -> tuple[object, ...]:
    """Rule 4: first come first served."""
    return (booking.created_at, booking.start, booking.graph_event_id, booking.pk or 0)


def clash_reason(zone: zoneinfo.ZoneInfo, clash: Booking) -> str:
    """Rule 5: what a conflict says of the booking that holds its slot."""
    booker = clash.booker
    who = (booker.name or booker.email) if booker is not None else clash.organizer_name
    return (
        f"Booked in Outlook over {who or 'another booking'}'s booking of "
        f"{clash.start.astimezone(zone):%Y-%m-%d %H:%M}–{clash.end.astimezone(zone):%H:%M}; "
        "one of the two must move."
    )


# --- bookings made in the app -------------------------------------------------------------


def insert_confirmed(booking: Booking, *, fields: list[str] | None = None) -> Booking:
    """Saves `booking` confirmed (all of it, or only `fields` of a booking being moved) unless
    another confirmed booking holds part of its slot: then BookingConflict (rule 3). Call
    inside a transaction."""
    office_timezone = booking.space.office.timezone
    lock_space(booking.space_id)
    clash = overlapping(booking.space_id, booking.start, booking.end).exclude(pk=booking.pk)
    if (found := clash.select_related("space").first()) is not None:
        raise BookingConflict(found, office_timezone)
    try:
        with transaction.atomic():
            booking.save(update_fields=fields)
    except IntegrityError as error:
        # The database's own check (rule 1) saw a writer that did not queue on the lock.
        found = clash.select_related("space").first()
        if found is None:
            raise
        raise BookingConflict(found, office_timezone) from error
    return booking


def reconsider_conflicts(space: Space, freed: Sequence[Times]) -> None:
    """The slots `freed` were let go in this transaction: the conflicts over them get their
    turn (rule 4). Call inside the transaction that freed them."""
    placement = Placement(space)
    placement.freed.extend(freed)
    placement.bookings.load_standing_around(list(freed))
    placement.settle()
    placement.write()


# --- the bookings one change touches, decided in memory and written at once ----------------


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


class SpaceBookings:
    """The bookings of one space that a change touches, read once, with what they were."""

    def __init__(self, space_id: int) -> None:
        self.space_id = space_id
        self.known: dict[int, Booking] = {}
        self.loaded_span: Times | None = None
        self._was: dict[int, Placed] = {}

    def query(self) -> QuerySet[Booking]:
        return Booking.objects.filter(space_id=self.space_id).select_related("booker")

    def add(self, found: Iterable[Booking]) -> None:
        for booking in found:
            if booking.pk in self.known:
                continue
            self.known[booking.pk] = booking
            self._was[booking.pk] = Placed(*(getattr(booking, name) for name in PLACED_FIELDS))

    def load_span(self, times: list[Times]) -> None:
        """Every booking of the space from the first start of `times` to their last end."""
        if times:
            self.loaded_span = (min(s for s, _ in times), max(e for _, e in times))
            self.add(self.outside(inside=True))

    def outside(self, *, inside: bool = False) -> QuerySet[Booking]:
        """The space's bookings beyond the span read so far (or, `inside`, within it)."""
        if self.loaded_span is None:
            return self.query().none() if inside else self.query()
        overlaps = Q(start__lt=self.loaded_span[1], end__gt=self.loaded_span[0])
        return self.query().filter(overlaps if inside else ~overlaps)

    def load_standing_around(self, times: list[Times]) -> None:
        """The bookings still standing over `times` beyond the span read so far."""
        span = self.loaded_span
        beyond = [(s, e) for s, e in times if span is None or s < span[0] or e > span[1]]
        if beyond:
            start, end = min(s for s, _ in beyond), max(e for _, e in beyond)
            self.add(self.query().filter(start__lt=end, end__gt=start)
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
        self.add(self.query().filter(
            status=Booking.Status.CONFIRMED, start__lt=end, end__gt=start
        ))
        for pk in set(self.known) - before:
            held.hold(self.known[pk])

    def original(self, booking: Booking) -> Placed | None:
        """The booking's placed fields as they were read, None for a new one."""
        return self._was.get(booking.pk) if booking.pk is not None else None

    def changed(self, booking: Booking) -> bool:
        was = self.original(booking)
        return was is not None and was != tuple(getattr(booking, name) for name in PLACED_FIELDS)


class Placement:
    """One change of one space's bookings (call inside a transaction that holds the space's
    lock): what is released, what wants a slot, decided by `settle` and written by `write`."""

    def __init__(self, space: Space) -> None:
        self.zone = space.office.zone
        self.now = timezone.now()
        self.bookings = SpaceBookings(space.pk)
        self.freed: list[Times] = []
        self.placing: list[Booking] = []
        self.created: list[Booking] = []

    def release(self, booking: Booking) -> None:
        """The booking's meeting is gone or holds nothing: cancelled; its slot is free."""
        if booking.status == Booking.Status.CONFIRMED:
            self.freed.append((booking.start, booking.end))
        booking.status, booking.cancelled_at, booking.status_reason = (
            Booking.Status.CANCELLED, self.now, "",
        )

    def place(self, booking: Booking, times: Times) -> None:
        """The booking wants [start, end): confirmed if free, else a conflict (rule 3); a
        booking new to the space is written by `write`."""
        if booking.pk is None:
            booking.created_at = self.now
            self.created.append(booking)
        elif (booking.start, booking.end) != times and booking.status == Booking.Status.CONFIRMED:
            self.freed.append((booking.start, booking.end))
        booking.start, booking.end = times
        booking.cancelled_at = None
        self.placing.append(booking)

    def settle(self) -> None:
        """Decides confirmed or conflict for what wants a slot: the bookings placed, and the
        conflicts over the slots freed, in the waiting order (rule 4)."""
        bookings = self.bookings
        placed = {id(booking) for booking in self.placing}
        held = HeldSlots()
        kept: set[int] = set()
        for booking in sorted(bookings.known.values(), key=attrgetter("start")):
            was = bookings.original(booking)
            if was is not None and was.status == Booking.Status.CONFIRMED and (
                booking.status == Booking.Status.CONFIRMED
                and (booking.start, booking.end) == (was.start, was.end)
            ):  # rule 2: a confirmed booking that stays where it is keeps its slot
                held.hold(booking)
                kept.add(id(booking))
                if id(booking) in placed:
                    booking.status_reason = ""
        rechecked = [
            b for b in bookings.known.values()
            if id(b) not in placed and b.status == Booking.Status.CONFLICT
            and any(b.start < end and b.end > start for start, end in self.freed)
        ]
        waiting = [b for b in self.placing if id(b) not in kept] + rechecked
        bookings.load_confirmed_around(rechecked, held)
        for booking in sorted(waiting, key=waiting_order):
            clash = held.clash(booking.start, booking.end)
            if clash is None:
                booking.status, booking.status_reason = Booking.Status.CONFIRMED, ""
                held.hold(booking)
            else:
                booking.status = Booking.Status.CONFLICT
                booking.status_reason = clash_reason(self.zone, clash)

    def write(self) -> None:
        """Writes what changed in an order both databases' no-overlap checks accept at every
        row: slots are let go first, taken after."""
        bookings = self.bookings
        # Only the bookings a Placement places: Outlook's. One made in the app is written by
        # its own action (bookings.services), and by the guarded updates of bookings.outlook.
        changed = [
            b for b in bookings.known.values()
            if b.source == Booking.Source.OUTLOOK and bookings.changed(b)
        ]
        for booking in changed:
            booking.updated_at = self.now
        fields = [*PLACED_FIELDS, "updated_at"]
        freeing, moving = [], []
        for booking in changed:
            was = bookings.original(booking)
            assert was is not None  # (changed() says so; for the type)
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
        insert_bookings(self.created, self.now)


def insert_bookings(bookings: list[Booking], now: dt.datetime) -> None:
    """bulk_create without the ORM's per-value work, which cost more than the database's own:
    PostgreSQL by COPY (a room's 385 rows: 29 ms instead of bulk_create's 62, a fifth less of
    the server's CPU; constraints and the exclusion check apply to every row as ever), SQLite
    by an executemany of plain rows (its triggers check every row). Nothing reads the new
    rows' ids.
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
    # Each value as Django's field would write it, without its per-value work: times as
    # naive UTC text (Django's SQLite backend stores them so, settings.DATABASES naming no
    # TIME_ZONE), UUIDs as hex.
    converters = [
        (index, sqlite_utc_text if f.get_internal_type() == "DateTimeField" else uuid_hex)
        for index, f in enumerate(fields)
        if f.get_internal_type() in {"DateTimeField", "UUIDField"}
    ]
    converted: dict[object, str] = {}  # a page's bookings share creation times, starts, ends
    rows = []
    for booking in bookings:
        row = list(values_of(booking))
        for index, convert in converters:
            value = row[index]
            if value is not None:
                row[index] = converted.get(value) or converted.setdefault(value, convert(value))
        rows.append(row)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608 - model names
    with db.cursor() as cursor:
        for chunk in chunked(rows, WRITE_BATCH):
            cursor.executemany(sql, chunk)


def sqlite_utc_text(value: dt.datetime) -> str:
    """'2026-12-07 08:00:00[.ffffff]': as Django's SQLite backend writes an aware time."""
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")


def uuid_hex(value: uuid.UUID) -> str:
    return value.hex


def chunked(values: list[T], size: int = READ_BATCH) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
