"""What the booking actions raise: each caller turns it into its own answer.

The answer is a form error, a 409 or 422 in the API, or a conflict kept for an Outlook meeting."""

from __future__ import annotations

import zoneinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openrooms.bookings.models import Booking


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


class BookingCancelled(BookingError):
    """The booking was cancelled: it can no longer change (a 409, not a bad value)."""


class BookingConflict(BookingError):
    """The slot is held by another confirmed booking (`conflicting`)."""

    def __init__(self, conflicting: Booking, office_timezone: str) -> None:
        zone = zoneinfo.ZoneInfo(office_timezone)
        start = conflicting.start.astimezone(zone)
        end = conflicting.end.astimezone(zone)
        super().__init__(
            f"{conflicting.space.name} is already booked from {start:%Y-%m-%d %H:%M} "
            f"to {end:%H:%M} ({office_timezone})."
        )
        self.conflicting = conflicting
