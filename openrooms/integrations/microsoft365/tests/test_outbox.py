"""The outbox, delivered in this process against the emulator.

What is recorded, what reaches Outlook, and how failures are kept. End-to-end runs with worker
processes: test_outbox_workers.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django_tasks_db.models import DBTaskResult

from m365_emulator.testing import wait_until
from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book, do_cancel_booking, do_move_booking
from openrooms.integrations.microsoft365.models import OutboxEntry
from openrooms.integrations.microsoft365.outbound import (
    access_outbox_entry_by_id,
    acquire_mailbox_slot,
    claim_next_entry,
    deliver_due_entries,
    do_give_up_outbox_entry,
    do_retry_outbox_entry,
    entries_needing_attention,
)
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    ALICE,
    BASTILLE,
    SEINE,
    connect,
    deliver_everything,
    linked_room,
    slot,
)
from openrooms.jobs.scheduler import schedule_periodic_work

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_retries")]















def ours(events: list[dict], booking: Booking) -> list[dict]:
    return [e for e in events if e.get("transactionId") == str(booking.transaction_id)]


# --- recording -------------------------------------------------------------------------------


def test_a_booking_of_a_linked_room_records_a_create_in_its_transaction(
    room_mode, seine, member
):
    start, end = slot()
    booking = do_book(seine, booker=member, start=start, end=end, title="Planning")
    [entry] = OutboxEntry.objects.all()
    assert (entry.kind, entry.sequence, entry.state) == ("create", 1, "pending")
    assert entry.mailbox == SEINE and entry.booking == booking
    booking.refresh_from_db()
    assert booking.transaction_id is not None


def test_a_booking_that_rolls_back_leaves_no_entry(room_mode, seine, member):
    start, end = slot()
    with pytest.raises(RuntimeError), transaction.atomic():
        do_book(seine, booker=member, start=start, end=end)
        raise RuntimeError("the caller's transaction fails later")
    assert not Booking.objects.exists() and not OutboxEntry.objects.exists()


def test_unlinked_rooms_and_unconnected_organisations_record_nothing(
    organisation, office, room, member, emulator_api
):
    start, end = slot()
    do_book(room, booker=member, start=start, end=end)  # not linked
    linked = linked_room(organisation, office, SEINE)
    do_book(linked, booker=member, start=start, end=end)  # linked, but no connection
    assert not OutboxEntry.objects.exists()


def test_moves_and_cancels_are_recorded_in_sequence(room_mode, seine, member):
    start, end = slot()
    booking = do_book(seine, booker=member, start=start, end=end)
    do_move_booking(booking, acting=member, start=start + dt.timedelta(hours=1),
                    end=end + dt.timedelta(hours=1))
    do_cancel_booking(booking, acting=member)
    entries = list(OutboxEntry.objects.values_list("sequence", "kind"))
    assert entries == [(1, "create"), (2, "update"), (3, "cancel")]


def test_booker_mode_sends_to_the_bookers_mailbox(booker_mode, seine, alice):
    start, end = slot()
    do_book(seine, booker=alice, start=start, end=end)
    assert OutboxEntry.objects.get().mailbox == ALICE


# --- delivering ------------------------------------------------------------------------------


def test_room_mode_writes_moves_and_cancels_the_event_in_the_rooms_calendar(
    room_mode, seine, member, emulator_api
):
    start, end = slot()
    booking = do_book(seine, booker=member, start=start, end=end, title="Planning")
    deliver_everything()
    [event] = ours(emulator_api.events_of(SEINE, start), booking)
    booking.refresh_from_db()
    assert booking.graph_event_id == event["id"] and booking.ical_uid == event["iCalUId"]
    assert event["subject"] == "Planning" and event["start"]["dateTime"].startswith(
        start.strftime("%Y-%m-%dT%H:%M"))
    assert OutboxEntry.objects.get().state == "delivered"

    later = start + dt.timedelta(hours=2)
    do_move_booking(booking, acting=member, start=later, end=later + dt.timedelta(minutes=30))
    deliver_everything()
    [moved] = ours(emulator_api.events_of(SEINE, start), booking)
    assert moved["id"] == event["id"]
    assert moved["start"]["dateTime"].startswith(later.strftime("%Y-%m-%dT%H:%M"))

    do_cancel_booking(booking, acting=member)
    deliver_everything()
    assert ours(emulator_api.events_of(SEINE, start), booking) == []
    assert set(OutboxEntry.objects.values_list("state", flat=True)) == {"delivered"}


def test_booker_mode_invites_the_room_and_its_booking_assistant_accepts(
    booker_mode, seine, alice, emulator_api
):
    start, end = slot()
    booking = do_book(seine, booker=alice, start=start, end=end, title="Roadmap")
    deliver_everything()
    [event] = ours(emulator_api.events_of(ALICE, start), booking)
    [attendee] = event["attendees"]
    assert (attendee["type"], attendee["emailAddress"]["address"]) == ("resource", SEINE)
    booking.refresh_from_db()

    def room_copy():
        copies = [e for e in emulator_api.events_of(SEINE, start)
                  if e["iCalUId"] == booking.ical_uid]
        return copies[0] if copies else None

    assert wait_until(room_copy)["start"]["dateTime"].startswith(start.strftime("%Y-%m-%dT%H"))

    later = start + dt.timedelta(hours=1)
    do_move_booking(booking, acting=alice, start=later, end=later + dt.timedelta(hours=1))
    deliver_everything()
    wait_until(lambda: (room_copy() or {}).get("start", {}).get("dateTime", "").startswith(
        later.strftime("%Y-%m-%dT%H")))

    do_cancel_booking(booking, acting=alice)
    deliver_everything()
    assert ours(emulator_api.events_of(ALICE, start), booking) == []
    wait_until(lambda: (room_copy() or {"isCancelled": True})["isCancelled"])


def test_a_booker_without_a_mailbox_is_written_to_the_room_calendar_and_admins_are_told(
    booker_mode, seine, member, emulator_api
):
    start, end = slot()
    booking = do_book(seine, booker=member, start=start, end=end)
    deliver_everything()
    entry = OutboxEntry.objects.get()
    assert entry.state == "delivered" and entry.mailbox == SEINE
    assert "member@acme.test has no mailbox" in entry.note
    assert len(ours(emulator_api.events_of(SEINE, start), booking)) == 1

    later = start + dt.timedelta(hours=1)
    do_move_booking(booking, acting=member, start=later, end=later + dt.timedelta(hours=1))
    assert OutboxEntry.objects.get(sequence=2).mailbox == SEINE
    deliver_everything()
    [moved] = ours(emulator_api.events_of(SEINE, start), booking)
    assert moved["start"]["dateTime"].startswith(later.strftime("%Y-%m-%dT%H"))


@pytest.mark.parametrize("mode", ["booker", "room"])
def test_delivering_a_create_again_makes_no_second_event(
    mode, organisation, graph_settings, full_app, seine, alice, emulator_api
):
    connect(organisation, graph_settings, full_app, mode)
    start, end = slot()
    booking = do_book(seine, booker=alice, start=start, end=end)
    deliver_everything()
    booking.refresh_from_db()
    first_id = booking.graph_event_id
    # As if the worker died after Graph created the event but before we saved its id.
    Booking.objects.filter(pk=booking.pk).update(graph_event_id="", ical_uid="")
    OutboxEntry.objects.update(state="pending")
    deliver_everything()
    booking.refresh_from_db()
    mailbox = ALICE if mode == "booker" else SEINE
    [event] = ours(emulator_api.events_of(mailbox, start), booking)
    assert event["id"] == first_id == booking.graph_event_id


def test_a_post_whose_answer_times_out_is_read_back_and_makes_no_second_event(
    settings, booker_mode, seine, alice, emulator_api
):
    settings.MICROSOFT_TIMEOUT_SECONDS = 0.4
    emulator_api.fault("slow", delay_ms=1000, count=1, path_contains="/events")
    start, end = slot()
    booking = do_book(seine, booker=alice, start=start, end=end)
    deliver_everything()
    time.sleep(1.0)  # the slow POST completes in the emulator meanwhile
    booking.refresh_from_db()
    [event] = ours(emulator_api.events_of(ALICE, start), booking)
    assert event["id"] == booking.graph_event_id
    assert OutboxEntry.objects.get().state == "delivered"


def test_throttling_and_unavailability_inside_a_delivery_are_waited_out(
    room_mode, seine, member, emulator_api
):
    emulator_api.fault("429", count=2, retry_after=0, path_contains="/events")
    emulator_api.fault("503", count=1, retry_after=0, path_contains="/calendarView")
    start, end = slot()
    booking = do_book(seine, booker=member, start=start, end=end)
    deliver_everything()
    entry = OutboxEntry.objects.get()
    assert (entry.state, entry.attempts, entry.last_error) == ("delivered", 1, "")
    assert len(ours(emulator_api.events_of(SEINE, start), booking)) == 1
    assert emulator_api.counters()["faults_served"] == 3


def test_an_outage_leaves_entries_pending_with_their_error_then_they_are_delivered(
    settings, room_mode, seine, member, emulator_api
):
    # A retry due after the delivery that failed has looked again, however slow the machine.
    settings.MICROSOFT_OUTBOX_RETRY_SECONDS = 1.0
    emulator_api.fault("down", duration_seconds=1.0, retry_after=0)
    start, end = slot()
    booking = do_book(seine, booker=member, start=start, end=end)
    deliver_due_entries(SEINE)
    entry = OutboxEntry.objects.get()
    assert entry.state == "pending" and entry.attempts == 1
    assert entry.last_attempt_at is not None
    assert entry.next_attempt_at > entry.last_attempt_at
    # Not a bug report: msal's error for the identity platform's 503 is read as an outage.
    assert "identity platform answered 503" in entry.last_error
    assert list(entries_needing_attention(booking.space.office.organisation)) == [entry]
    time.sleep(1.0)
    deliver_everything()
    entry.refresh_from_db()
    assert entry.state == "delivered" and entry.attempts == 2
    assert len(ours(emulator_api.events_of(SEINE, start), booking)) == 1


def test_a_failure_that_keeps_coming_back_is_shown_as_failing_and_still_retried(
    settings, room_mode, seine, member, emulator_api
):
    emulator_api.fault("503", count=1000, retry_after=0, path_contains="/calendarView")
    settings.MICROSOFT_MAX_WAIT_SECONDS = 0
    start, end = slot()
    do_book(seine, booker=member, start=start, end=end)
    for _ in range(3):
        deliver_due_entries(SEINE)
        time.sleep(0.25)
    entry = OutboxEntry.objects.get()
    assert entry.state == "failed" and entry.attempts == 3 and "503" in entry.last_error
    emulator_api.clear_faults()
    deliver_everything()
    assert OutboxEntry.objects.get().state == "delivered"


# --- conflicts and what admins do ---------------------------------------------------------------


@pytest.fixture
def outlook_meeting_in_seine(emulator_api):
    start, end = slot()
    emulator_api.call("POST", "outlook/book", {
        "organizer": "bob@contoso.onmicrosoft.com", "room": SEINE, "subject": "Board",
        "start": start.strftime("%Y-%m-%dT%H:%M:%S"), "end": end.strftime("%Y-%m-%dT%H:%M:%S"),
    })
    wait_until(lambda: emulator_api.events_of(SEINE, start))
    return start, end


def test_a_conflict_in_the_room_calendar_fails_visibly_until_an_admin_gives_up(
    room_mode, seine, member, admin, outlook_meeting_in_seine, emulator_api
):
    start, end = outlook_meeting_in_seine
    booking = do_book(seine, booker=member, start=start, end=end)
    deliver_due_entries(SEINE)
    entry = OutboxEntry.objects.get()
    assert entry.state == "failed" and "already booked in Outlook" in entry.last_error
    assert ours(emulator_api.events_of(SEINE, start), booking) == []

    with pytest.raises(PermissionDenied):
        do_give_up_outbox_entry(entry, acting=member)
    do_retry_outbox_entry(entry, acting=admin)
    deliver_due_entries(SEINE)
    entry.refresh_from_db()
    assert entry.state == "failed" and entry.attempts == 2

    do_give_up_outbox_entry(entry, acting=admin)
    entry.refresh_from_db()
    assert entry.state == "given_up" and entry.given_up_by == admin
    deliver_due_entries(SEINE)
    entry.refresh_from_db()
    assert entry.attempts == 2  # no longer tried
    booking.refresh_from_db()
    assert booking.status == "confirmed"  # a failed Graph call never loses the booking


def test_a_move_onto_an_outlook_meeting_fails_like_a_create_and_leaves_the_event_in_place(
    room_mode, seine, member, admin, outlook_meeting_in_seine, emulator_api
):
    start, end = outlook_meeting_in_seine
    earlier = start - dt.timedelta(hours=3)
    booking = do_book(seine, booker=member, start=earlier, end=earlier + dt.timedelta(hours=1))
    deliver_everything()
    # The app has not pulled the room yet: nothing here stops the move onto the meeting.
    do_move_booking(booking, acting=member, start=start, end=end)
    deliver_due_entries(SEINE)
    move = OutboxEntry.objects.get(sequence=2)
    assert move.state == "failed" and "already booked in Outlook" in move.last_error
    assert "still has the booking at its old time" in move.last_error
    [event] = ours(emulator_api.events_of(SEINE, start), booking)
    assert event["start"]["dateTime"].startswith(earlier.strftime("%Y-%m-%dT%H:%M"))
    [meeting] = [e for e in emulator_api.events_of(SEINE, start) if e["id"] != event["id"]]
    assert not meeting["isCancelled"] and meeting["showAs"] == "busy"

    # As for a create: an admin gives up, the booker moves it somewhere free, that reaches Outlook.
    do_give_up_outbox_entry(move, acting=admin)
    later = end + dt.timedelta(hours=1)
    do_move_booking(Booking.objects.get(pk=booking.pk), acting=member, start=later,
                    end=later + dt.timedelta(hours=1))
    deliver_everything()
    [event] = ours(emulator_api.events_of(SEINE, start), booking)
    assert event["start"]["dateTime"].startswith(later.strftime("%Y-%m-%dT%H:%M"))


def test_a_huge_retry_after_parks_an_entry_for_an_hour_at_most(
    room_mode, seine, member, emulator_api
):
    emulator_api.fault("429", retry_after=10**9, path_contains="/calendarView")
    start, end = slot()
    do_book(seine, booker=member, start=start, end=end)
    deliver_due_entries(SEINE)
    entry = OutboxEntry.objects.get()
    assert entry.state == "pending" and "429" in entry.last_error
    assert entry.last_attempt_at is not None
    wait = (entry.next_attempt_at - entry.last_attempt_at).total_seconds()
    assert 3500 < wait <= 3600


def test_an_outsider_cannot_reach_another_organisations_entries(
    room_mode, seine, member, outsider
):
    start, end = slot()
    do_book(seine, booker=member, start=start, end=end)
    entry = OutboxEntry.objects.get()
    with pytest.raises(Http404):
        access_outbox_entry_by_id(outsider.organisation, entry.pk)
    with pytest.raises(PermissionDenied):
        do_give_up_outbox_entry(entry, acting=outsider)


def test_later_changes_of_a_booking_wait_for_its_failing_create(
    room_mode, seine, member, admin, outlook_meeting_in_seine, emulator_api
):
    start, end = outlook_meeting_in_seine
    booking = do_book(seine, booker=member, start=start, end=end)
    deliver_due_entries(SEINE)
    later = start + dt.timedelta(hours=3)
    do_move_booking(booking, acting=member, start=later, end=later + dt.timedelta(hours=1))
    do_retry_outbox_entry(OutboxEntry.objects.get(sequence=1), acting=admin)
    deliver_due_entries(SEINE)
    # The create, retried after the move, writes the booking where it is now: the room is free.
    assert list(OutboxEntry.objects.values_list("sequence", "state")) == [
        (1, "delivered"), (2, "delivered")]
    [event] = ours(emulator_api.events_of(SEINE, start), booking)
    assert event["start"]["dateTime"].startswith(later.strftime("%Y-%m-%dT%H"))


# --- claiming --------------------------------------------------------------------------------


def test_an_entry_is_claimed_by_one_holder_only(room_mode, seine, member):
    start, end = slot()
    do_book(seine, booker=member, start=start, end=end)
    assert claim_next_entry(SEINE, "worker-a") is not None
    assert claim_next_entry(SEINE, "worker-b") is None


def test_a_mailbox_has_a_bounded_number_of_deliveries_in_flight(settings):
    settings.MICROSOFT_OUTBOX_MAILBOX_SLOTS = 2
    settings.WORK_CLAIM_SECONDS = 0.3
    assert acquire_mailbox_slot(SEINE, "a") and acquire_mailbox_slot(SEINE, "b")
    assert acquire_mailbox_slot(SEINE, "c") is None
    assert acquire_mailbox_slot(BASTILLE, "c") is not None
    time.sleep(0.35)  # a and b died: their leases run out
    assert acquire_mailbox_slot(SEINE, "c") is not None


def test_the_scheduler_enqueues_each_mailbox_with_due_entries_and_ticks_alone(
    room_mode, organisation, office, seine, member
):
    bastille = linked_room(organisation, office, BASTILLE)
    start, end = slot()
    do_book(seine, booker=member, start=start, end=end)
    do_book(seine, booker=member, start=end, end=end + dt.timedelta(hours=1))
    do_book(bastille, booker=member, start=start, end=end)
    assert schedule_periodic_work("scheduler-a", interval=5)
    assert not schedule_periodic_work("scheduler-b", interval=5)
    deliveries = DBTaskResult.objects.filter(task_path__endswith="deliver_outbox")
    assert sorted(r.args_kwargs["args"][0] for r in deliveries) == [BASTILLE, SEINE]


def deliveries_queued(mailbox: str) -> int:
    return sum(
        1 for r in DBTaskResult.objects.filter(task_path__endswith="deliver_outbox",
                                               status="READY")
        if r.args_kwargs["args"] == [mailbox]
    )


def test_one_queued_delivery_per_mailbox_serves_every_change_and_scheduler_tick(
    room_mode, seine, member, emulator_api, django_capture_on_commit_callbacks
):
    start, _ = slot()
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            begins = start + dt.timedelta(hours=n)
            do_book(seine, booker=member, start=begins, end=begins + dt.timedelta(hours=1))
    for _ in range(3):
        schedule_periodic_work("scheduler-a", interval=5)
    assert deliveries_queued(SEINE) == 1

    DBTaskResult.objects.all().delete()  # as a worker takes the task, which then starts:
    deliver_due_entries(SEINE)
    assert set(OutboxEntry.objects.values_list("state", flat=True)) == {"delivered"}
    with django_capture_on_commit_callbacks(execute=True):
        later = start + dt.timedelta(hours=5)
        do_book(seine, booker=member, start=later, end=later + dt.timedelta(hours=1))
    assert deliveries_queued(SEINE) == 1  # the started delivery no longer stands for it


def test_a_retry_is_queued_again_once_the_delivery_that_failed_has_started(
    settings, room_mode, seine, member, emulator_api
):
    # Long enough that the failed entry is not due again before deliver_due_entries returns.
    settings.MICROSOFT_OUTBOX_RETRY_SECONDS = settings.MICROSOFT_OUTBOX_MAX_RETRY_SECONDS = 1.0
    emulator_api.fault("503", count=4, retry_after=0, path_contains="/calendarView")
    start, end = slot()
    do_book(seine, booker=member, start=start, end=end)
    schedule_periodic_work("scheduler-a", interval=5)
    DBTaskResult.objects.all().delete()
    deliver_due_entries(SEINE)  # fails: the entry waits for its next attempt
    assert OutboxEntry.objects.get().state == "pending"
    time.sleep(1.3)  # 1 s and its jitter (up to 20%)
    schedule_periodic_work("scheduler-a", interval=5)
    assert deliveries_queued(SEINE) == 1


def test_the_scheduler_enqueues_the_secret_expiry_warnings_once_a_day(db):
    warnings = DBTaskResult.objects.filter(task_path__endswith="send_secret_expiry_warnings")
    for _ in range(3):
        schedule_periodic_work("scheduler-a", interval=5)
    assert warnings.count() == 1
