"""The day view's rows: a space, its busy intervals as JSON, and the hours its timeline covers.

The page draws each row's timeline and list of bookings in the browser (static/js/day.js) from
the JSON the database writes (availability.day_of_spaces), with one URL pattern per page
for booking and cancelling: a row costs the server a few strings however the day is cut.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from openrooms.bookings.availability import SpaceSummary
from openrooms.bookings.models import Booking

FIRST_HOUR = 7
LAST_HOUR = 20
CELL = dt.timedelta(minutes=15)  # static/js/day.js draws quarter hours from FIRST_HOUR


@dataclass
class Row:
    space: SpaceSummary
    day: dt.date
    busy_json: str  # [{"booking", "start", "end", "title", "mine", "who"}, ...] by start
    # Meetings booked in Outlook over a booking here (shown to admins and that booking's booker).
    conflicts: list[Booking] = field(default_factory=list)


def hours() -> list[str]:
    return [f"{hour:02d}" for hour in range(FIRST_HOUR, LAST_HOUR)]
