"""The rules that guard bookings, and the only code that writes them.

Views, the API and background tasks call `do_book`, `do_move_booking` and
`do_cancel_booking`; each is one transaction and raises a `BookingError` the caller turns
into its own answer (a form error, a 409, a sync conflict record). Each sends
`signals.booking_changed` inside its transaction (the Microsoft 365 outbox records it there).
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import NamedTuple

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from openrooms.accounts.models import Account, Organisation
from openrooms.bookings.models import Booking
from openrooms.bookings.signals import booking_changed
from openrooms.spaces.models import Floor, Office, Space
from openrooms.spaces.services import get_or_404

# A booking may start this long ago, so "now" can be booked from a page opened a moment ago.
START_GRACE = dt.timedelta(minutes=15)


class BookingError(ValueError):
    """A booking request that breaks a rule; `field` names the input at fault, if one is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidBookingTime(BookingError):
    pass


class OutsideBookingWindow(BookingError):
    pass


class SpaceNotBookable(BookingError):
    pass


class BookingConflict(BookingError):
    def __init__(self, conflicting: Booking, office_timezone: str) -> None:
        zone = zoneinfo.ZoneInfo(office_timezone)
        start = conflicting.start.astimezone(zone)
        end = conflicting.end.astimezone(zone)
        super().__init__(
            f"{conflicting.space.name} is already booked from {start:%Y-%m-%d %H:%M} "
            f"to {end:%H:%M} ({office_timezone})."
        )
        self.conflicting = conflicting


def bookings_of(organisation: Organisation) -> QuerySet[Booking]:
    return Booking.objects.filter(space__office__organisation=organisation)


def access_booking_by_id(organisation: Organisation, booking_id: object) -> Booking:
    return get_or_404(bookings_of(organisation).select_related("space__office"), booking_id)


def visible_title(booking: Booking, viewer: Account) -> str:
    """The subject `viewer` may read: their own and, for admins, every one; others' only when
    the organisation shows subjects, and never a private meeting's."""
    if viewer.is_admin or booking.booker_id == viewer.pk:
        return booking.title
    shown = viewer.organisation.show_meeting_subjects and not booking.is_private
    return booking.title if shown else ""


# A desk booked for the day, in the office's time zone: the plan's "whole day" and the day
# view's suggested end. Organisations have no working-hours setting yet; this fits the default
# 12-hour booking limit.
DESK_DAY_START = dt.time(8)
DESK_DAY_END = dt.time(18)


def overlapping(space: Space, start: dt.datetime, end: dt.datetime) -> QuerySet[Booking]:
    """Confirmed bookings of `space` that share any instant with [start, end)."""
    return Booking.objects.filter(
        space=space, status=Booking.Status.CONFIRMED, start__lt=end, end__gt=start
    )


def check_booking_times(
    organisation: Organisation, start: dt.datetime, end: dt.datetime, *, now: dt.datetime
) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidBookingTime("Start and end need a time zone offset.", field="start")
    # Python compares two datetimes of one ZoneInfo by wall clock; across a DST change that is
    # not elapsed time (02:30 on a spring-forward night is after 03:00 in UTC).
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if end <= start:
        raise InvalidBookingTime("The booking must end after it starts.", field="end")
    if start < now - START_GRACE:
        raise InvalidBookingTime("The booking cannot start in the past.", field="start")
    minutes = (end - start).total_seconds() / 60
    if minutes > organisation.max_booking_minutes:
        raise OutsideBookingWindow(
            f"A booking can last at most {format_minutes(organisation.max_booking_minutes)}.",
            field="end",
        )
    if start > now + dt.timedelta(days=organisation.max_days_ahead):
        raise OutsideBookingWindow(
            f"Bookings can be made at most {organisation.max_days_ahead} days ahead.",
            field="start",
        )


def format_minutes(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not rest:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours} h {rest} min" if hours else f"{rest} minutes"


def lock_space(space_id: int) -> None:
    """Queues this transaction behind others writing bookings of the space (PostgreSQL).

    Without it, two concurrent inserts over the same time each wait in the exclusion check for
    the other to finish: PostgreSQL breaks that deadlock by failing one with an error, not a
    conflict.
    """
    list(Space.objects.select_for_update().filter(pk=space_id).values_list("pk", flat=True))


def insert_without_overlap(booking: Booking) -> Booking:
    """Saves a confirmed booking unless it overlaps another; call inside a transaction.

    SQLite: settings open every transaction with BEGIN IMMEDIATE, so the check below and the
    insert hold the database's write lock together. PostgreSQL: writers of one space queue on
    its row lock, so the check sees what the one before committed; the exclusion constraint
    stays the last word.
    """
    office_timezone = booking.space.office.timezone
    lock_space(booking.space_id)
    clash = overlapping(booking.space, booking.start, booking.end).exclude(pk=booking.pk).first()
    if clash is not None:
        raise BookingConflict(clash, office_timezone)
    # A move writes only its own fields: a worker may have stored the Outlook event's ids on
    # this row since it was read.
    fields = None if booking.pk is None else ["start", "end", "title", "updated_at"]
    try:
        with transaction.atomic():
            booking.save(update_fields=fields)
    except IntegrityError as error:
        clash = overlapping(booking.space, booking.start, booking.end).exclude(pk=booking.pk)
        clash = clash.select_related("space").first()
        if clash is None:
            raise
        raise BookingConflict(clash, office_timezone) from error
    return booking


def do_book(
    space: Space,
    *,
    booker: Account,
    start: dt.datetime,
    end: dt.datetime,
    title: str = "",
    now: dt.datetime | None = None,
) -> Booking:
    """Books `space` for `booker`; raises BookingError when a rule or another booking says no."""
    organisation = space.office.organisation
    if booker.organisation_id != organisation.pk:
        raise PermissionDenied("That space belongs to another organisation.")
    if not space.bookable:
        raise SpaceNotBookable(f"{space.name} cannot be booked.", field="space")
    check_booking_times(organisation, start, end, now=now or timezone.now())
    with transaction.atomic():
        booking = Booking(
            space=space,
            booker=booker,
            start=start,
            end=end,
            title=title.strip(),
            source=Booking.Source.APP,
        )
        insert_without_overlap(booking)
        booking_changed.send(sender=Booking, booking=booking, change="created")
        return booking


def can_change(booking: Booking, acting: Account) -> bool:
    same_organisation = booking.space.office.organisation_id == acting.organisation_id
    return same_organisation and (acting.is_admin or booking.booker_id == acting.pk)


def check_can_change(booking: Booking, acting: Account) -> None:
    if not can_change(booking, acting):
        raise PermissionDenied("Only the booker or an administrator can change this booking.")


def do_move_booking(
    booking: Booking,
    *,
    acting: Account,
    start: dt.datetime,
    end: dt.datetime,
    title: str | None = None,
    now: dt.datetime | None = None,
) -> Booking:
    check_can_change(booking, acting)
    if not booking.is_active:
        raise InvalidBookingTime("A cancelled booking cannot be changed.")
    check_booking_times(booking.space.office.organisation, start, end, now=now or timezone.now())
    with transaction.atomic():
        freed = (booking.start, booking.end)
        booking.start, booking.end = start, end
        if title is not None:
            booking.title = title.strip()
        insert_without_overlap(booking)
        booking_changed.send(sender=Booking, booking=booking, change="moved")
        promote_conflicts(booking.space_id, *freed)
        return booking


def do_cancel_booking(booking: Booking, *, acting: Account) -> Booking:
    check_can_change(booking, acting)
    if booking.is_active:
        with transaction.atomic():
            booking.status = Booking.Status.CANCELLED
            booking.cancelled_at = timezone.now()
            booking.save(update_fields=["status", "cancelled_at", "updated_at"])
            booking_changed.send(sender=Booking, booking=booking, change="cancelled")
            promote_conflicts(booking.space_id, booking.start, booking.end)
    return booking


def promote_conflicts(space_id: int, start: dt.datetime, end: dt.datetime) -> list[Booking]:
    """Meetings held as conflicts over a slot that was just freed take it, first come first
    served (one that still overlaps a confirmed booking stays a conflict). Call inside the
    transaction that freed the slot; returns the bookings confirmed."""
    lock_space(space_id)
    promoted = []
    for waiting in Booking.objects.filter(
        space_id=space_id, status=Booking.Status.CONFLICT, start__lt=end, end__gt=start
    ).order_by("created_at", "pk"):
        space = waiting.space
        if overlapping(space, waiting.start, waiting.end).exclude(pk=waiting.pk).exists():
            continue
        waiting.status, waiting.status_reason = Booking.Status.CONFIRMED, ""
        waiting.save(update_fields=["status", "status_reason", "updated_at"])
        promoted.append(waiting)
    return promoted


class BusyInterval(NamedTuple):
    """A confirmed booking as availability shows it; times are ISO 8601 UTC text."""

    booking_id: int
    start_utc: str
    end_utc: str
    title: str
    mine: bool
    booker_id: int | None = None
    organizer: str = ""

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.start_utc)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.end_utc)


class SpaceSummary(NamedTuple):
    """The fields of a Space that availability needs, without building 2,000 model objects."""

    pk: int
    kind: str
    name: str
    capacity: int
    floor_id: int | None
    amenities: list[str]
    plan_x: float | None
    plan_y: float | None

    @property
    def id(self) -> int:
        return self.pk


class SpaceAvailability(NamedTuple):
    """A space and its busy intervals, kept as the JSON array the database built."""

    space: SpaceSummary
    busy_json: str

    @property
    def busy(self) -> list[BusyInterval]:
        return [
            BusyInterval(
                item["booking"], item["start"], item["end"], item["title"], item["mine"],
                item.get("booker"),
                item.get("name") or (item.get("email") or "").split("@")[0]
                or item.get("organizer", ""),
            )
            for item in json.loads(self.busy_json)
        ]


def day_bounds(office: Office, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants at which `day` starts and ends in the office's time zone."""
    zone = zoneinfo.ZoneInfo(office.timezone)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def availability(
    office: Office,
    day: dt.date,
    *,
    kind: str | None = None,
    floor: Floor | None = None,
    space: Space | None = None,
    viewer: Account | None = None,
    show_subjects: bool = True,
    with_people: bool = True,
) -> list[SpaceAvailability]:
    """Every bookable space of the office (or one space) with its busy intervals on `day`.

    Two queries, whatever the number of spaces and bookings. The database writes each space's
    intervals as a JSON array: for a whole office that is thousands of rows, and turning them
    into Python objects and back into JSON cost more than everything else together. `mine`
    is relative to `viewer`; without `with_people` the intervals name nobody.
    """
    matching: dict[str, object] = {"office": office, "bookable": True}
    if kind:
        matching["kind"] = kind
    if floor is not None:
        matching["floor"] = floor
    if space is not None:
        matching["pk"] = space.pk
    spaces = [
        SpaceSummary(*row)
        for row in Space.objects.filter(**matching)
        .order_by("kind", "name")
        .values_list("pk", "kind", "name", "capacity", "floor_id", "amenities", "plan_x", "plan_y")
    ]
    busy = busy_json_by_space(
        office,
        day,
        {field: getattr(value, "pk", value) for field, value in matching.items()},
        viewer_id=viewer.pk if viewer else None,
        show_subjects=show_subjects,
        with_people=with_people,
    )
    return [SpaceAvailability(summary, busy.get(summary.pk, "[]")) for summary in spaces]


AVAILABILITY_COLUMNS = {
    "office": "s.office_id", "bookable": "s.bookable", "kind": "s.kind",
    "floor": "s.floor_id", "pk": "s.id",
}


def busy_json_by_space(
    office: Office,
    day: dt.date,
    matching: dict[str, object],
    *,
    viewer_id: int | None,
    show_subjects: bool,
    with_people: bool,
) -> dict[int, str]:
    """Space id → JSON array of its confirmed bookings overlapping `day`, sorted by start.

    Raw SQL, because each database spells JSON aggregation its own way, and SQLite 3.40 has no
    ORDER BY inside an aggregate (it aggregates a derived table that is already ordered).
    """
    start, end = day_bounds(office, day)
    where = ["b.status = %s", "b.start < %s", 'b."end" > %s']
    where += [f"{AVAILABILITY_COLUMNS[field]} = %s" for field in matching]
    if connection.vendor == "postgresql":
        start_utc, end_utc = (
            f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
            for column in ("b.start", 'b."end"')
        )
        mine = "COALESCE(b.booker_id = %s, false)"
    else:
        start_utc, end_utc = (
            f"strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', {column})" for column in ("b.start", 'b."end"')
        )
        mine = "json(CASE WHEN b.booker_id = %s THEN 'true' ELSE 'false' END)"
    item = (
        f"'booking', b.id, 'start', {start_utc}, 'end', {end_utc}, "
        "'title', CASE WHEN %s = 1 AND NOT b.is_private THEN b.title ELSE '' END, "
        f"'mine', {mine}"
    )
    people_join = ""
    if with_people:
        item += (
            ", 'booker', b.booker_id, 'name', COALESCE(a.name, ''), "
            "'email', COALESCE(a.email, ''), 'organizer', b.organizer_name"
        )
        people_join = "LEFT JOIN accounts_account a ON a.id = b.booker_id"
    rows = (
        f"FROM bookings_booking b JOIN spaces_space s ON s.id = b.space_id {people_join} "
        f"WHERE {' AND '.join(where)}"
    )
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT b.space_id, json_agg(json_build_object({item}) ORDER BY b.start)::text "
            f"{rows} GROUP BY b.space_id"
        )
    else:
        sql = (
            "SELECT space_id, json_group_array(json(item)) FROM ("  # noqa: S608 - fixed SQL, values are parameters
            f"SELECT b.space_id, json_object({item}) AS item {rows} ORDER BY b.space_id, b.start"
            ") GROUP BY space_id"
        )
    # Adapted as the ORM would: SQLite stores naive UTC text, which an aware value's
    # "+00:00" suffix would make compare wrongly (midnight bookings on the previous day).
    adapt = connection.ops.adapt_datetimefield_value
    params = [int(show_subjects), viewer_id, Booking.Status.CONFIRMED, adapt(end), adapt(start),
              *matching.values()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


# Reads for the web UI's day view and "My bookings" (added for the web UI).


def availability_of_space(
    space: Space, day: dt.date, *, show_subjects: bool = True
) -> SpaceAvailability:
    """One space's busy intervals on `day`; the day view refreshes a row with it after a booking."""
    [row] = availability(space.office, day, space=space, show_subjects=show_subjects) or [
        SpaceAvailability(
            SpaceSummary(space.pk, space.kind, space.name, space.capacity, space.floor_id,
                         space.amenities, space.plan_x, space.plan_y),
            "[]",
        )
    ]
    return row


def upcoming_bookings_of(account: Account, *, now: dt.datetime | None = None) -> QuerySet[Booking]:
    """The account's bookings that have not ended yet, soonest first: confirmed ones, and
    those the room declined in Outlook (so the booker sees it in time to book another)."""
    return (
        bookings_of(account.organisation)
        .filter(booker=account, status__in=[Booking.Status.CONFIRMED, Booking.Status.DECLINED],
                end__gt=now or timezone.now())
        .select_related("space__office")
        .order_by("start")
    )


def past_bookings_of(account: Account, *, now: dt.datetime | None = None) -> QuerySet[Booking]:
    """The account's bookings that have ended or were cancelled, latest first."""
    now = now or timezone.now()
    return (
        bookings_of(account.organisation)
        .filter(booker=account)
        .filter(Q(end__lte=now) | Q(status=Booking.Status.CANCELLED))
        .select_related("space__office")
        .order_by("-start")
    )


def conflicts_of(
    organisation: Organisation, *, account: Account | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[Booking]:
    """Meetings booked in Outlook over a confirmed booking here that have not ended.

    Admins see every one; with `account` (a member), those over that member's bookings.
    """
    conflicts = bookings_of(organisation).filter(
        status=Booking.Status.CONFLICT, end__gt=now or timezone.now()
    )
    if account is not None and not account.is_admin:
        mine = Booking.objects.filter(
            booker=account, status=Booking.Status.CONFIRMED, space_id=OuterRef("space_id"),
            start__lt=OuterRef("end"), end__gt=OuterRef("start"),
        )
        conflicts = conflicts.filter(Exists(mine))
    return conflicts.select_related("space__office").order_by("start")
