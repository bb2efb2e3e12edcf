"""The rules that guard bookings, and the only code that writes them.

Views, the API and background tasks call `do_book`, `do_move_booking` and
`do_cancel_booking`; each is one transaction and raises a `BookingError` the caller turns
into its own answer (a form error, a 409, a sync conflict record).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from openrooms.accounts.models import Account, Organisation
from openrooms.bookings.models import Booking
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
    try:
        with transaction.atomic():
            booking.save()
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
        return insert_without_overlap(booking)


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
        return insert_without_overlap(booking)


def do_cancel_booking(booking: Booking, *, acting: Account) -> Booking:
    check_can_change(booking, acting)
    if booking.is_active:
        with transaction.atomic():
            booking.status = Booking.Status.CANCELLED
            booking.cancelled_at = timezone.now()
            booking.save(update_fields=["status", "cancelled_at", "updated_at"])
    return booking


@dataclass(frozen=True)
class BusyInterval:
    booking_id: int
    start: dt.datetime
    end: dt.datetime
    title: str
    booker_id: int | None
    organizer: str


@dataclass(frozen=True)
class SpaceAvailability:
    space: Space
    busy: list[BusyInterval]


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
    show_subjects: bool = True,
) -> list[SpaceAvailability]:
    """Every bookable space of the office with its busy intervals on `day`, in two queries."""
    matching = {"office": office, "bookable": True}
    if kind:
        matching["kind"] = kind
    if floor is not None:
        matching["floor"] = floor
    spaces = list(Space.objects.filter(**matching).order_by("kind", "name"))
    start, end = day_bounds(office, day)
    rows = (
        Booking.objects.filter(
            status=Booking.Status.CONFIRMED,
            start__lt=end,
            end__gt=start,
            **{f"space__{field}": value for field, value in matching.items()},
        )
        .values_list(
            "pk", "space_id", "start", "end", "title", "booker_id", "organizer_name",
            "is_private", "booker__name", "booker__email",
        )
        .order_by("start")
    )
    busy: dict[int, list[BusyInterval]] = {}
    for pk, space_id, b_start, b_end, title, booker_id, organizer, private, name, email in rows:
        shown_title = title if show_subjects and not private else ""
        who = name or (email or "").split("@")[0] or organizer
        busy.setdefault(space_id, []).append(
            BusyInterval(pk, b_start, b_end, shown_title, booker_id, who)
        )
    return [SpaceAvailability(space, busy.get(space.pk, [])) for space in spaces]
