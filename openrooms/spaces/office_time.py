"""Time in an office: its today, a day's bounds and wall-clock times, read in its time zone.

Times are UTC inside the product; pages and forms show and take them in the office's zone.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from openrooms.spaces.models import Office


def now_in(office: Office) -> dt.datetime:
    return timezone.now().astimezone(office.zone)


def today_in(office: Office) -> dt.date:
    return now_in(office).date()


def at_office(office: Office, day: dt.date, wall: dt.time) -> dt.datetime:
    """`wall` on `day` in the office's zone, as a UTC instant."""
    return dt.datetime.combine(day, wall, tzinfo=office.zone).astimezone(dt.UTC)


def day_bounds(office: Office, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants at which `day` starts and ends in the office's time zone."""
    return at_office(office, day, dt.time.min), at_office(office, day + dt.timedelta(days=1),
                                                           dt.time.min)
