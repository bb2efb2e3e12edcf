"""The rules that guard bookings, and the only code that writes them.

Views, the API and background tasks call `do_book`, `do_move_booking` and
`do_cancel_booking`; each is one transaction and raises a `BookingError` the caller turns
into its own answer (a form error, a 409, a sync conflict record). Each sends
`signals.booking_changed` inside its transaction (the Microsoft 365 outbox records it there).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import NamedTuple

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import CharField, Func, Q, QuerySet
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


def insert_without_overlap(booking: Booking) -> Booking:
    """Saves a confirmed booking unless it overlaps another; call inside a transaction.

    SQLite: settings open every transaction with BEGIN IMMEDIATE, so the check below and the
    insert hold the database's write lock together. PostgreSQL: two transactions can both pass
    the check; the exclusion constraint then fails the second insert, reported the same way.
    """
    office_timezone = booking.space.office.timezone
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


def check_can_change(booking: Booking, acting: Account) -> None:
    same_organisation = booking.space.office.organisation_id == acting.organisation_id
    if not same_organisation or not (acting.is_admin or booking.booker_id == acting.pk):
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
        booking.start, booking.end = start, end
        if title is not None:
            booking.title = title.strip()
        insert_without_overlap(booking)
        booking_changed.send(sender=Booking, booking=booking, change="moved")
        return booking


def do_cancel_booking(booking: Booking, *, acting: Account) -> Booking:
    check_can_change(booking, acting)
    if booking.is_active:
        with transaction.atomic():
            booking.status = Booking.Status.CANCELLED
            booking.cancelled_at = timezone.now()
            booking.save(update_fields=["status", "cancelled_at", "updated_at"])
            booking_changed.send(sender=Booking, booking=booking, change="cancelled")
    return booking


class BusyInterval(NamedTuple):
    """A confirmed booking as availability shows it. Times are ISO 8601 UTC text formatted by
    the database: loading thousands of datetimes costs more than the rest of the answer."""

    booking_id: int
    start_utc: str
    end_utc: str
    title: str
    booker_id: int | None
    organizer: str

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
    space: SpaceSummary
    busy: list[BusyInterval]


class IsoUtc(Func):
    """A timestamp as ISO 8601 text in UTC (to the second), formatted by the database."""

    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        # %%%% survives both the template's and the parameters' %-formatting as one %.
        template = "strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%SZ', %(expressions)s)"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        return self.as_sql(compiler, connection, template=template, **extra)


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
    show_subjects: bool = True,
    with_people: bool = True,
) -> list[SpaceAvailability]:
    """Every bookable space of the office (or one space) with its busy intervals on `day`.

    Two queries, whatever the number of spaces and bookings. Without `with_people` the
    intervals name no organizer, which spares a join over every booking of the day.
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
    start, end = day_bounds(office, day)
    rows = (
        Booking.objects.filter(
            status=Booking.Status.CONFIRMED,
            start__lt=end,
            end__gt=start,
            **{f"space__{field}": value for field, value in matching.items()},
        )
        .annotate(start_utc=IsoUtc("start"), end_utc=IsoUtc("end"))
        .order_by("start")
    )
    people = ("booker__name", "booker__email") if with_people else ()
    fields = ("start_utc", "end_utc", "title", "booker_id", "organizer_name", "is_private")
    busy: dict[int, list[BusyInterval]] = {}
    for pk, space_id, b_start, b_end, title, booker_id, organizer, private, *person in (
        rows.values_list("pk", "space_id", *fields, *people)
    ):
        shown_title = title if show_subjects and not private else ""
        name, email = person or ("", "")
        who = name or (email or "").split("@")[0] or organizer
        busy.setdefault(space_id, []).append(
            BusyInterval(pk, b_start, b_end, shown_title, booker_id, who)
        )
    return [SpaceAvailability(summary, busy.get(summary.pk, [])) for summary in spaces]


# Reads for the web UI's day view and "My bookings" (added for the web UI).


def availability_of_space(
    space: Space, day: dt.date, *, show_subjects: bool = True
) -> SpaceAvailability:
    """One space's busy intervals on `day`; the day view refreshes a row with it after a booking."""
    [row] = availability(space.office, day, space=space, show_subjects=show_subjects) or [
        SpaceAvailability(
            SpaceSummary(space.pk, space.kind, space.name, space.capacity, space.floor_id,
                         space.amenities, space.plan_x, space.plan_y),
            [],
        )
    ]
    return row


def upcoming_bookings_of(account: Account, *, now: dt.datetime | None = None) -> QuerySet[Booking]:
    """The account's confirmed bookings that have not ended yet, soonest first."""
    return (
        bookings_of(account.organisation)
        .filter(booker=account, status=Booking.Status.CONFIRMED, end__gt=now or timezone.now())
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
