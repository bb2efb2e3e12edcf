"""The inbound sync end to end: a real `openrooms worker` process polls the rooms' calendars.

Its scheduler enqueues `pull_room_calendar` per linked room, while meetings are booked, moved
and cancelled "as in Outlook" on the emulator.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django_tasks_db.models import DBTaskResult

from m365_emulator.testing import wait_until
from openrooms.accounts.models import Account
from openrooms.accounts.services import do_create_account
from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book
from openrooms.integrations.microsoft365.models import CalendarSyncState
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    ALICE,
    SEINE,
    connect,
    linked_room,
    slot,
)

pytestmark = pytest.mark.django_db(transaction=True)

BOB = "bob@contoso.onmicrosoft.com"
ORSAY = "paris-orsay@contoso.onmicrosoft.com"  # its booking assistant allows 120 minutes




def wall(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_a_worker_brings_outlook_meetings_in_and_our_own_back_once(
    organisation, office, member, graph_settings, full_app, emulator_api, start_workers
):
    connect(organisation, graph_settings, full_app, "room")
    seine = linked_room(organisation, office, SEINE)
    start, end = slot(days=8)
    ours = do_book(seine, booker=member, start=start, end=end, title="Ours")
    start_workers(1, poll_seconds=0.3)

    theirs_start = start + dt.timedelta(hours=2)
    event = emulator_api.call("POST", "outlook/book", {
        "organizer": BOB, "room": SEINE, "subject": "Theirs", "timeZone": "UTC",
        "start": wall(theirs_start), "end": wall(theirs_start + dt.timedelta(hours=1)),
    })

    def theirs() -> Booking | None:
        return Booking.objects.filter(space=seine, source="outlook",
                                      ical_uid=event["iCalUId"]).first()

    def theirs_now() -> Booking:
        found = theirs()
        assert found is not None
        return found

    booking = wait_until(theirs, timeout=20)
    assert booking.start == theirs_start and booking.status == "confirmed"
    assert booking.organizer_email == BOB

    moved = theirs_start + dt.timedelta(hours=1)
    emulator_api.call("POST", "outlook/move", {
        "mailbox": BOB, "event_id": event["id"], "timeZone": "UTC",
        "start": wall(moved), "end": wall(moved + dt.timedelta(hours=1)),
    })
    wait_until(lambda: theirs_now().start == moved, timeout=20)

    emulator_api.call("POST", "outlook/cancel", {"mailbox": BOB, "event_id": event["id"]})
    wait_until(lambda: theirs_now().status == "cancelled", timeout=20)

    # Our own booking went out through the outbox and came back through the pull: one row.
    wait_until(lambda: Booking.objects.get(pk=ours.pk).room_response == "accepted", timeout=20)
    window = Booking.objects.filter(space=seine, start__lt=end + dt.timedelta(hours=4),
                                    end__gt=start)
    assert sorted(window.values_list("source", "status")) == [
        ("app", "confirmed"), ("outlook", "cancelled")]
    state = CalendarSyncState.objects.get(link__space=seine)
    assert state.delta_link and state.last_error == ""
    assert not DBTaskResult.objects.filter(status="FAILED").exists()  # others may be queued


def test_in_booker_mode_a_worker_learns_what_the_room_answered(
    organisation, office, graph_settings, full_app, emulator_api, start_workers
):
    """Booker's calendar mode end to end: the worker writes each booking in Alice's calendar
    with the room invited; the room's booking assistant answers; the worker's pulls bring the
    answer back: accepted, or declined with the reason the booker sees."""
    connect(organisation, graph_settings, full_app, "booker")
    alice: Account = do_create_account(organisation, email=ALICE, password="x" * 12)
    orsay = linked_room(organisation, office, ORSAY)
    start, _ = slot(days=9, hour=8)
    fits = do_book(orsay, booker=alice, start=start, end=start + dt.timedelta(hours=1))
    later = start + dt.timedelta(hours=4)
    too_long = do_book(orsay, booker=alice, start=later, end=later + dt.timedelta(hours=3))
    start_workers(1, poll_seconds=0.3)

    def answers() -> tuple[tuple[str, str], ...] | None:
        found = tuple(Booking.objects.filter(pk=pk).values_list("status", "room_response")[0]
                      for pk in (fits.pk, too_long.pk))
        return found if all(response for _, response in found) else None

    assert wait_until(answers, timeout=30) == (
        ("confirmed", "accepted"), ("declined", "declined"))
    assert "booking assistant" in Booking.objects.get(pk=too_long.pk).status_reason
    # The accepted booking came back as the room's copy, not as a second booking.
    assert not Booking.objects.filter(space=orsay, source="outlook").exists()
    assert not DBTaskResult.objects.filter(status="FAILED").exists()  # others may be queued
