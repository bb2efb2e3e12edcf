"""On PostgreSQL an idle worker starts a delivery the moment the booking commits: real
`openrooms worker` processes polling only every 30 s still write a booking to its room's
calendar at once, woken by LISTEN/NOTIFY (jobs.wake_ups), also after losing that connection.
SQLite has no notifications: its workers poll (0.25 s by default)."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from m365_emulator.testing import wait_until
from openrooms.bookings.services import do_book
from openrooms.integrations.microsoft365.models import OutboxEntry
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    SEINE,
    connect,
    linked_room,
    slot,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="LISTEN/NOTIFY is PostgreSQL's; SQLite's workers poll"),
]

POLL_SECONDS = 30


def listening_sessions() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query = 'LISTEN openrooms_tasks'"
        )
        return [pid for (pid,) in cursor.fetchall()]


def delivered_within(booking_id: int, seconds: float) -> float:
    booked_at = time.monotonic()
    wait_until(lambda: OutboxEntry.objects.filter(booking_id=booking_id, state="delivered")
               .exists(), timeout=seconds, interval=0.02)
    return time.monotonic() - booked_at


def test_an_idle_worker_is_woken_by_the_bookings_commit_and_again_after_reconnecting(
    organisation, office, member, graph_settings, full_app, start_workers
):
    connect(organisation, graph_settings, full_app, "room")
    seine = linked_room(organisation, office, SEINE)
    start_workers(1, interval=POLL_SECONDS)
    wait_until(listening_sessions, timeout=15, interval=0.05)
    time.sleep(0.5)  # the worker's first look at the queue is over: it waits for a wake-up

    start, end = slot()
    booking = do_book(seine, booker=member, start=start, end=end, title="Woken")
    took = delivered_within(booking.pk, 5)
    print(f"booking to room calendar with a {POLL_SECONDS} s poll: {took * 1000:.0f} ms")

    [listener] = listening_sessions()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [listener])
    wait_until(lambda: listening_sessions() not in ([], [listener]), timeout=15, interval=0.05)
    time.sleep(0.5)
    start, end = slot(hour=18)
    again = do_book(seine, booker=member, start=start, end=end, title="Woken again")
    delivered_within(again.pk, 5)
