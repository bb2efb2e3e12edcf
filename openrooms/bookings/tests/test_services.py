"""The booking rules, directly."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from openrooms.bookings.services import InvalidBookingTime, OutsideBookingWindow, do_book

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC)


def test_a_range_that_ends_before_it_starts_in_real_time_is_refused(member, room):
    # 02:30 does not exist on 28 March 2027 in Berlin: it is 01:30 UTC, after 03:00 (01:00 UTC).
    start = dt.datetime(2027, 3, 28, 2, 30, tzinfo=BERLIN)
    end = dt.datetime(2027, 3, 28, 3, 0, tzinfo=BERLIN)
    with pytest.raises(InvalidBookingTime, match="end after it starts"):
        do_book(room, booker=member, start=start, end=end, now=NOW)


def test_the_longest_booking_counts_real_hours_across_a_dst_change(member, room):
    # 31 October 2027, Berlin falls back: 00:00 to 12:00 on the wall clock lasts 13 hours.
    start = dt.datetime(2027, 10, 31, 0, 0, tzinfo=BERLIN)
    end = dt.datetime(2027, 10, 31, 12, 0, tzinfo=BERLIN)
    with pytest.raises(OutsideBookingWindow, match="at most 12 hours"):
        do_book(room, booker=member, start=start, end=end, now=NOW)
