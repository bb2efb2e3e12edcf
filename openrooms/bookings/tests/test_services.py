"""The booking rules, directly."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from openrooms.bookings.errors import InvalidBookingTime, OutsideBookingWindow
from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book, do_cancel_booking, do_move_booking

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


def outlook_conflict(room, start: dt.datetime, end: dt.datetime, event_id: str) -> Booking:
    return Booking.objects.create(
        space=room, source=Booking.Source.OUTLOOK, graph_event_id=event_id, start=start,
        end=end, status=Booking.Status.CONFLICT, status_reason="Booked in Outlook over ours.",
    )


def test_cancelling_a_booking_gives_its_slot_to_the_meetings_held_as_conflicts(member, room):
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    ours = do_book(room, booker=member, start=start, end=start + dt.timedelta(hours=1))
    first = outlook_conflict(room, start, start + dt.timedelta(minutes=30), "AAMk-1")
    # Overlaps the first one too: it stays a conflict, now with the first.
    second = outlook_conflict(room, start, start + dt.timedelta(minutes=45), "AAMk-2")
    do_cancel_booking(ours, acting=member)
    assert Booking.objects.get(pk=first.pk).status == Booking.Status.CONFIRMED
    assert Booking.objects.get(pk=first.pk).status_reason == ""
    assert Booking.objects.get(pk=second.pk).status == Booking.Status.CONFLICT


def test_moving_a_booking_away_gives_the_old_slot_to_a_conflict(member, room):
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    ours = do_book(room, booker=member, start=start, end=start + dt.timedelta(hours=1))
    waiting = outlook_conflict(room, start, start + dt.timedelta(hours=1), "AAMk-3")
    later = start + dt.timedelta(hours=3)
    do_move_booking(ours, acting=member, start=later, end=later + dt.timedelta(hours=1))
    assert Booking.objects.get(pk=waiting.pk).status == Booking.Status.CONFIRMED
    assert Booking.objects.get(pk=ours.pk).status == Booking.Status.CONFIRMED
