"""Bookings made in the app: the rules they follow, the actions that write them, their reads.

Views, the API and background tasks call `do_book`, `do_move_booking` and
`do_cancel_booking`; each is one transaction and raises a `BookingError` the caller turns
into its own answer (a form error, a 409). Where a booking may stand is decided by
`bookings.placement`. Each action sends `signals.booking_changed` inside its transaction
(the Microsoft 365 outbox records it there).
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from openrooms.accounts.models import Account, Organisation
from openrooms.bookings.errors import (
    BookingCancelled,
    InvalidBookingTime,
    OutsideBookingWindow,
    SpaceNotBookable,
)
from openrooms.bookings.models import Booking
from openrooms.bookings.placement import insert_confirmed, lock_space, reconsider_conflicts
from openrooms.bookings.signals import booking_changed
from openrooms.spaces.models import Office, Space
from openrooms.spaces.office_time import at_office
from openrooms.spaces.services import get_or_404

# A booking may start this long ago, so "now" can be booked from a page opened a moment ago.
START_GRACE = dt.timedelta(minutes=15)
# A desk booked for the day, in the office's time zone: the plan's "whole day" and the day
# view's suggested end. Organisations have no working-hours setting yet; this fits the default
# 12-hour booking limit.
DESK_DAY_START = dt.time(8)
DESK_DAY_END = dt.time(18)


def desk_day(office: Office, day: dt.date, *, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """A desk booked for the whole of `day`: its working day in the office's zone, from now
    (to the minute) once the day has begun. InvalidBookingTime once it is over."""
    start, end = at_office(office, day, DESK_DAY_START), at_office(office, day, DESK_DAY_END)
    if end <= now:
        raise InvalidBookingTime("The working day is over; choose another date.", field="date")
    return max(start, now.replace(second=0, microsecond=0)), end


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
            # What a calendar written for it (Outlook's transactionId) knows it by, so a
            # repeated write never makes a second event.
            transaction_id=uuid.uuid4(),
        )
        insert_confirmed(booking)
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
        raise BookingCancelled("A cancelled booking cannot be changed.")
    check_booking_times(booking.space.office.organisation, start, end, now=now or timezone.now())
    with transaction.atomic():
        freed = (booking.start, booking.end)
        booking.start, booking.end = start, end
        if title is not None:
            booking.title = title.strip()
        # Whatever the room answered was for the old times; it answers the new ones afresh.
        booking.room_response = ""
        # Only its own fields: a worker may have stored the Outlook event's ids on this row
        # since it was read.
        insert_confirmed(
            booking, fields=["start", "end", "title", "room_response", "updated_at"]
        )
        booking_changed.send(sender=Booking, booking=booking, change="moved")
        reconsider_conflicts(booking.space, [freed])
        return booking


def do_cancel_booking(booking: Booking, *, acting: Account) -> Booking:
    check_can_change(booking, acting)
    if booking.is_active:
        with transaction.atomic():
            lock_space(booking.space_id)
            booking.status = Booking.Status.CANCELLED
            booking.cancelled_at = timezone.now()
            booking.save(update_fields=["status", "cancelled_at", "updated_at"])
            booking_changed.send(sender=Booking, booking=booking, change="cancelled")
            reconsider_conflicts(booking.space, [(booking.start, booking.end)])
    return booking


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
