"""The database itself refuses two confirmed bookings of a space that share an instant.

It does on SQLite (triggers) as on PostgreSQL (an exclusion constraint): a raw write is refused
too."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book

pytestmark = pytest.mark.django_db

START = (timezone.now() + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0,
                                                        microsecond=0)


def at(hours: float) -> dt.datetime:
    return START + dt.timedelta(hours=hours)


EVENT_IDS = itertools.count()
# What each engine names in its refusal: the trigger's message, the constraint's name.
REFUSAL = "booking_confirmed_no_overlap"


def insert_raw(space_id: int, start: dt.datetime, end: dt.datetime, status: str) -> None:
    """An INSERT no booking action wrote: nothing of the app checks it."""
    adapt = connection.ops.adapt_datetimefield_value
    now = adapt(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO bookings_booking (space_id, start, "end", title, status, source, '
            "organizer_name, organizer_email, is_private, show_as, room_response, "
            "status_reason, graph_event_id, ical_uid, created_at, updated_at) "
            "VALUES (%s, %s, %s, '', %s, 'outlook', '', '', %s, '', '', '', %s, '', %s, %s)",
            [space_id, adapt(start), adapt(end), status, False, f"raw-{next(EVENT_IDS)}", now,
             now],
        )


def test_a_raw_overlapping_insert_is_refused(member, room):
    do_book(room, booker=member, start=at(0), end=at(1))
    with pytest.raises(IntegrityError, match=REFUSAL), transaction.atomic():
        insert_raw(room.pk, at(0.5), at(1.5), "confirmed")
    with pytest.raises(IntegrityError, match=REFUSAL), transaction.atomic():
        insert_raw(room.pk, at(-1), at(3), "confirmed")  # around it
    assert Booking.objects.filter(space=room).count() == 1


def test_raw_inserts_that_touch_or_do_not_hold_the_slot_are_kept(member, room, desk):
    do_book(room, booker=member, start=at(0), end=at(1))
    insert_raw(room.pk, at(1), at(2), "confirmed")  # starts as the other ends
    insert_raw(room.pk, at(-1), at(0), "confirmed")  # ends as the other starts
    insert_raw(room.pk, at(0), at(1), "conflict")  # a conflict holds no slot
    insert_raw(desk.pk, at(0), at(1), "confirmed")  # another space
    assert Booking.objects.filter(status="confirmed").count() == 4


def test_a_raw_update_into_a_taken_slot_is_refused(member, room):
    first = do_book(room, booker=member, start=at(0), end=at(1))
    second = do_book(room, booker=member, start=at(2), end=at(3))
    refused = pytest.raises(IntegrityError, match=REFUSAL)
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute('UPDATE bookings_booking SET start = %s, "end" = %s WHERE id = %s',
                       [connection.ops.adapt_datetimefield_value(at(0.5)),
                        connection.ops.adapt_datetimefield_value(at(2.5)), second.pk])
    insert_raw(room.pk, at(0), at(1), "conflict")
    conflict = Booking.objects.get(space=room, status="conflict")
    with pytest.raises(IntegrityError, match=REFUSAL), transaction.atomic():
        Booking.objects.filter(pk=conflict.pk).update(status="confirmed")
    # Moving a booking within its own slot is no overlap with itself.
    Booking.objects.filter(pk=first.pk).update(end=at(1.5))
    assert Booking.objects.get(pk=first.pk).end == at(1.5)
