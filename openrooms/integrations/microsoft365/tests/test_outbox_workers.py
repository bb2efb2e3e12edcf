"""The outbox end to end: bookings made here, delivered by real `openrooms worker` processes.

The workers (django-tasks-db's db_worker plus the scheduler) run against the emulator, on this
test database.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django_tasks_db.models import DBTaskResult

from m365_emulator.testing import wait_until
from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book, do_cancel_booking, do_move_booking
from openrooms.integrations.microsoft365.models import OutboxEntry
from openrooms.integrations.microsoft365.outbound import deliver_outbox
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    ALICE,
    BASTILLE,
    FOURVIERE,
    OPERA,
    SEINE,
    connect,
    linked_room,
    slot,
)

pytestmark = pytest.mark.django_db(transaction=True)

POST_EVENTS = "POST /users/{user}/events"






def all_delivered(timeout: float = 20.0) -> None:
    def done() -> bool:
        states = set(OutboxEntry.objects.values_list("state", flat=True))
        return bool(states) and states <= {"delivered"}

    wait_until(done, timeout=timeout, interval=0.1)


def ours(events: list[dict], booking: Booking) -> list[dict]:
    return [e for e in events if e.get("transactionId") == str(booking.transaction_id)]


def starts_at(event: dict, moment: dt.datetime) -> bool:
    return event["start"]["dateTime"].startswith(moment.strftime("%Y-%m-%dT%H:%M"))


def test_room_mode_booking_moves_and_cancels_reach_the_room_calendar(
    organisation, office, member, graph_settings, full_app, emulator_api, start_workers
):
    connect(organisation, graph_settings, full_app, "room")
    seine = linked_room(organisation, office, SEINE)
    start_workers(1)
    start, end = slot()
    booking = do_book(seine, booker=member, start=start, end=end, title="Quarterly review")
    [event] = wait_until(lambda: ours(emulator_api.events_of(SEINE, start), booking), timeout=15)
    assert event["subject"] == "Quarterly review" and starts_at(event, start)

    later = start + dt.timedelta(hours=2)
    booking = Booking.objects.get(pk=booking.pk)
    do_move_booking(booking, acting=member, start=later, end=later + dt.timedelta(hours=1))
    wait_until(lambda: starts_at(ours(emulator_api.events_of(SEINE, start), booking)[0], later))

    do_cancel_booking(booking, acting=member)
    wait_until(lambda: not ours(emulator_api.events_of(SEINE, start), booking))
    all_delivered()
    booking.refresh_from_db()
    assert booking.graph_event_id == event["id"] and booking.ical_uid == event["iCalUId"]


def test_booker_mode_booking_reaches_the_room_through_its_booking_assistant(
    organisation, office, alice, graph_settings, full_app, emulator_api, start_workers
):
    connect(organisation, graph_settings, full_app, "booker")
    seine = linked_room(organisation, office, SEINE)
    start_workers(1)
    start, end = slot(hour=18)
    booking = do_book(seine, booker=alice, start=start, end=end, title="Roadmap")
    all_delivered()
    booking.refresh_from_db()

    def room_copies() -> list[dict]:
        return [e for e in emulator_api.events_of(SEINE, start)
                if e["iCalUId"] == booking.ical_uid and not e["isCancelled"]]

    [copy] = wait_until(room_copies)
    assert starts_at(copy, start) and copy["organizer"]["emailAddress"]["address"] == ALICE

    later = start + dt.timedelta(hours=1)
    booking = Booking.objects.get(pk=booking.pk)
    do_move_booking(booking, acting=alice, start=later, end=later + dt.timedelta(hours=1))
    wait_until(lambda: room_copies() and starts_at(room_copies()[0], later))

    do_cancel_booking(booking, acting=alice)
    wait_until(lambda: not room_copies())
    assert not ours(emulator_api.events_of(ALICE, start), booking)


def test_throttling_and_an_outage_lose_no_booking_and_duplicate_none(
    organisation, office, member, graph_settings, full_app, emulator_api, start_workers
):
    connect(organisation, graph_settings, full_app, "room")
    rooms = [linked_room(organisation, office, mailbox)
             for mailbox in (SEINE, BASTILLE, OPERA, FOURVIERE)]
    start_workers(2)
    emulator_api.fault("429", share=0.3, duration_seconds=6, retry_after=0)
    emulator_api.fault("503", share=0.1, duration_seconds=6, retry_after=0)
    start, _ = slot(days=6, hour=6)
    bookings = []
    for n in range(16):
        begins = start + dt.timedelta(hours=n // 4)
        bookings.append(do_book(rooms[n % 4], booker=member, start=begins,
                                end=begins + dt.timedelta(minutes=45), title=f"Meeting {n}"))
    # A whole outage in the middle of it.
    emulator_api.fault("down", duration_seconds=1.5, retry_after=0)
    for booking in bookings[:4]:
        booking = Booking.objects.get(pk=booking.pk)
        do_move_booking(booking, acting=member, start=booking.start + dt.timedelta(hours=6),
                        end=booking.end + dt.timedelta(hours=6))
    for booking in bookings[4:6]:
        do_cancel_booking(Booking.objects.get(pk=booking.pk), acting=member)
    assert OutboxEntry.objects.count() == 22

    all_delivered(timeout=40)
    for booking in Booking.objects.filter(pk__in=[b.pk for b in bookings]):
        mailbox = booking.space.room_link.mailbox
        events = ours(emulator_api.events_of(mailbox, booking.start), booking)
        if booking.status == "cancelled":
            assert events == []
        else:
            [event] = events
            assert starts_at(event, booking.start) and event["id"] == booking.graph_event_id
    counters = emulator_api.counters()
    assert counters["faults_served"] > 0
    assert max(counters["max_concurrency_per_mailbox"].values()) <= 4


def test_two_workers_deliver_each_entry_exactly_once(
    organisation, office, member, graph_settings, full_app, emulator_api, start_workers
):
    connect(organisation, graph_settings, full_app, "room")
    rooms = [linked_room(organisation, office, mailbox)
             for mailbox in (SEINE, BASTILLE, OPERA, FOURVIERE)]
    start, _ = slot(days=7, hour=6)
    bookings = []
    for n in range(20):
        begins = start + dt.timedelta(hours=n // 4)
        bookings.append(do_book(rooms[n % 4], booker=member, start=begins,
                                end=begins + dt.timedelta(minutes=30)))
    # Every mailbox's delivery task enqueued many times over: the workers race for the entries.
    for _ in range(5):
        for room in rooms:
            deliver_outbox.enqueue(room.room_link.mailbox)
    start_workers(2)
    all_delivered()
    assert set(OutboxEntry.objects.values_list("attempts", flat=True)) == {1}
    assert emulator_api.counters()["requests_per_endpoint"][POST_EVENTS] == 20
    for booking in bookings:
        mailbox = booking.space.room_link.mailbox
        assert len(ours(emulator_api.events_of(mailbox, booking.start), booking)) == 1
    assert not DBTaskResult.objects.filter(status="FAILED").exists()  # others may be queued
