"""The inbound sync, pulled in this process against the emulator.

Meetings booked, moved and cancelled "as in Outlook" become bookings here. End to end with a
worker: test_inbound_workers.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from m365_emulator.testing import wait_until
from openrooms.accounts.services import do_create_account
from openrooms.bookings.errors import BookingConflict
from openrooms.bookings.models import Booking
from openrooms.bookings.services import conflicts_of, do_book, do_move_booking
from openrooms.conftest import PASSWORD, signed_in
from openrooms.integrations.microsoft365.graph.replies import CalendarItem
from openrooms.integrations.microsoft365.inbound import pull as inbound
from openrooms.integrations.microsoft365.inbound.meetings import apply_items
from openrooms.integrations.microsoft365.inbound.pull import (
    PullResult,
    pull_room,
    pull_with_lease,
    sync_window,
)
from openrooms.integrations.microsoft365.models import (
    CalendarSyncState,
    RoomLink,
)
from openrooms.integrations.microsoft365.tests.conftest import client_of
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    ALICE,
    SEINE,
    EmulatorControl,
    deliver_everything,
    linked_room,
    slot,
)
from openrooms.jobs.leases import acquire_lease, lease_key
from openrooms.jobs.scheduler import schedule_periodic_work

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_retries")]

BOB = "bob@contoso.onmicrosoft.com"
LOUVRE = "paris-louvre@contoso.onmicrosoft.com"  # its booking assistant allows conflicts
ORSAY = "paris-orsay@contoso.onmicrosoft.com"  # at most 120 minutes a meeting
MONTMARTRE = "paris-montmartre@contoso.onmicrosoft.com"  # keeps subjects on its copies
PULL_TASK = "openrooms.integrations.microsoft365.inbound.pull.pull_room_calendar"














def wall(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def book_in_outlook(api: EmulatorControl, room: str, start: dt.datetime, end: dt.datetime, *,
                    organizer: str = BOB, subject: str = "Customer call", **extra) -> dict:
    """Books the room the way a user does in Outlook; returns the organizer's event."""
    return api.call("POST", "outlook/book", {
        "organizer": organizer, "room": room, "subject": subject,
        "start": wall(start), "end": wall(end), "timeZone": "UTC", **extra,
    })


def room_copies(api: EmulatorControl, room: str, event: dict, day: dt.datetime) -> list[dict]:
    return [e for e in api.events_of(room, day)
            if e["iCalUId"] == event["iCalUId"] and not e["isCancelled"]]


def accepted_by_room(api: EmulatorControl, room: str, event: dict, day: dt.datetime) -> dict:
    """Waits for the room's booking assistant to put its copy in the room's calendar."""
    [copy] = wait_until(lambda: room_copies(api, room, event, day))
    return copy


def pull(space) -> PullResult:
    result = pull_room(RoomLink.objects.get(space=space))
    assert not result.error, result.error
    return result


def bookings_between(space, start: dt.datetime, end: dt.datetime):
    return Booking.objects.filter(space=space, start__lt=end, end__gt=start)


def outlook_bookings(space):
    return Booking.objects.filter(space=space, source=Booking.Source.OUTLOOK)



# --- meetings booked in Outlook ------------------------------------------------------------


def test_a_meeting_booked_in_outlook_appears_as_an_outlook_booking(
    room_mode, seine, emulator_api
):
    start, end = slot()
    event = book_in_outlook(emulator_api, SEINE, start, end)
    copy = accepted_by_room(emulator_api, SEINE, event, start)

    result = pull(seine)
    assert result.full and result.applied >= 1
    booking = outlook_bookings(seine).get(graph_event_id=copy["id"])
    assert (booking.start, booking.end, booking.status) == (start, end, "confirmed")
    assert booking.organizer_email == BOB and booking.organizer_name == "Bob Durand"
    assert booking.show_as == "busy" and booking.ical_uid == event["iCalUId"]
    assert booking.title == ""  # the organisation does not show subjects (the default)
    assert booking.booker is None

    state = CalendarSyncState.objects.get(link__space=seine)
    assert state.delta_link and state.last_success_at and state.last_error == ""
    assert state.window_start is not None and state.window_end is not None
    assert state.window_start <= start and state.window_end >= end


def test_a_booking_here_over_an_outlook_meeting_is_refused_as_usual(
    room_mode, seine, member, emulator_api
):
    start, end = slot()
    accepted_by_room(emulator_api, SEINE, book_in_outlook(emulator_api, SEINE, start, end),
                     start)
    pull(seine)
    with pytest.raises(BookingConflict):
        do_book(seine, booker=member, start=start, end=end)


def test_moves_and_cancellations_in_outlook_follow(room_mode, seine, emulator_api):
    start, end = slot()
    event = book_in_outlook(emulator_api, SEINE, start, end)
    accepted_by_room(emulator_api, SEINE, event, start)
    pull(seine)
    [booking] = outlook_bookings(seine).filter(ical_uid=event["iCalUId"])

    later = start + dt.timedelta(hours=2)
    emulator_api.call("POST", "outlook/move", {
        "mailbox": BOB, "event_id": event["id"], "start": wall(later),
        "end": wall(later + dt.timedelta(minutes=30)), "timeZone": "UTC"})
    wait_until(lambda: any(c["start"]["dateTime"].startswith(wall(later)[:16])
                           for c in room_copies(emulator_api, SEINE, event, start)))
    result = pull(seine)
    assert not result.full  # the delta link from the first pull
    booking.refresh_from_db()
    assert (booking.start, booking.end) == (later, later + dt.timedelta(minutes=30))
    assert booking.status == "confirmed"

    emulator_api.call("POST", "outlook/cancel", {"mailbox": BOB, "event_id": event["id"]})
    wait_until(lambda: not room_copies(emulator_api, SEINE, event, start))
    pull(seine)
    booking.refresh_from_db()
    assert booking.status == "cancelled" and booking.cancelled_at is not None
    assert outlook_bookings(seine).filter(ical_uid=event["iCalUId"]).count() == 1


def test_the_instances_of_a_recurring_series_appear(room_mode, seine, emulator_api):
    start, end = slot(days=3, hour=17)
    recurrence = {
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "numbered", "startDate": start.date().isoformat(),
                  "numberOfOccurrences": 3},
    }
    event = book_in_outlook(emulator_api, SEINE, start, end, recurrence=recurrence)
    accepted_by_room(emulator_api, SEINE, event, start)
    pull(seine)
    instances = outlook_bookings(seine).filter(ical_uid=event["iCalUId"]).order_by("start")
    assert [b.start for b in instances] == [start + dt.timedelta(days=n) for n in range(3)]
    assert len({b.graph_event_id for b in instances}) == 3
    assert {b.status for b in instances} == {"confirmed"}


def test_subjects_are_stored_only_when_the_organisation_shows_them(
    organisation, office, room_mode, emulator_api
):
    montmartre = linked_room(organisation, office, MONTMARTRE)
    start, end = slot(hour=9)
    first = book_in_outlook(emulator_api, MONTMARTRE, start, end, subject="Design review")
    accepted_by_room(emulator_api, MONTMARTRE, first, start)
    pull(montmartre)
    assert outlook_bookings(montmartre).get(ical_uid=first["iCalUId"]).title == ""

    organisation.show_meeting_subjects = True
    organisation.save()
    later = start + dt.timedelta(hours=2)
    second = book_in_outlook(emulator_api, MONTMARTRE, later, later + dt.timedelta(hours=1),
                             subject="Budget 2027")
    accepted_by_room(emulator_api, MONTMARTRE, second, start)
    pull(montmartre)
    assert outlook_bookings(montmartre).get(ical_uid=second["iCalUId"]).title == "Budget 2027"


def test_control_characters_in_an_outlook_subject_are_dropped_not_the_meeting(
    organisation, office, room_mode, emulator_api
):
    organisation.show_meeting_subjects = True
    organisation.save()
    montmartre = linked_room(organisation, office, MONTMARTRE)
    start, end = slot(hour=9)
    event = book_in_outlook(emulator_api, MONTMARTRE, start, end, subject="Budget\x00 \x072027")
    accepted_by_room(emulator_api, MONTMARTRE, event, start)
    pull(montmartre)
    assert outlook_bookings(montmartre).get(ical_uid=event["iCalUId"]).title == "Budget 2027"


def test_a_private_meetings_subject_is_never_stored(
    organisation, office, room_mode, graph_settings, full_app, emulator_api
):
    organisation.show_meeting_subjects = True
    organisation.save()
    montmartre = linked_room(organisation, office, MONTMARTRE)
    start, end = slot(hour=11)
    with client_of(graph_settings, full_app) as client:
        # Written directly to the room's calendar: a room copy would have lost the private
        # flag (RemovePrivateProperty), this one keeps it.
        created = client.request("POST", f"users/{MONTMARTRE}/events", retry=False, json_body={
            "subject": "Acquisition of Fabrikam", "sensitivity": "private",
            "start": {"dateTime": wall(start), "timeZone": "UTC"},
            "end": {"dateTime": wall(end), "timeZone": "UTC"},
        }).json()
    pull(montmartre)
    booking = outlook_bookings(montmartre).get(graph_event_id=created["id"])
    assert booking.is_private and booking.status == "confirmed"
    # The row as stored, every text column of it.
    row = Booking.objects.filter(pk=booking.pk).values().get()
    assert not any("Fabrikam" in str(value) for value in row.values())
    assert not Booking.objects.filter(title__icontains="Fabrikam").exists()


def test_meetings_outside_the_window_and_replays_are_applied_once(
    settings, room_mode, seine, emulator_api
):
    settings.MICROSOFT_SYNC_DAYS_AHEAD = 10
    start, end = slot(days=4)
    near = book_in_outlook(emulator_api, SEINE, start, end)
    far_start = start + dt.timedelta(days=20)
    far = book_in_outlook(emulator_api, SEINE, far_start, far_start + dt.timedelta(hours=1))
    accepted_by_room(emulator_api, SEINE, near, start)
    accepted_by_room(emulator_api, SEINE, far, far_start)
    pull(seine)
    assert outlook_bookings(seine).filter(ical_uid=near["iCalUId"]).count() == 1
    assert not outlook_bookings(seine).filter(ical_uid=far["iCalUId"]).exists()
    before = sorted(outlook_bookings(seine).values_list("pk", "graph_event_id", "status"))

    # Forget the delta link: the next full round replays every item.
    CalendarSyncState.objects.update(delta_link="")
    result = pull(seine)
    assert result.full and result.reconciled == 0
    assert sorted(outlook_bookings(seine).values_list("pk", "graph_event_id", "status")) == before


# --- our own events coming back ------------------------------------------------------------


def test_our_own_event_in_the_rooms_calendar_is_not_duplicated(
    room_mode, seine, member, emulator_api
):
    start, end = slot()
    booking = do_book(seine, booker=member, start=start, end=end, title="Planning")
    deliver_everything()
    pull(seine)
    assert list(bookings_between(seine, start, end)) == [booking]
    booking.refresh_from_db()
    assert booking.status == "confirmed" and booking.title == "Planning"
    assert booking.room_response == "accepted"


def test_the_rooms_copy_of_a_booking_in_the_bookers_calendar_means_accepted(
    booker_mode, seine, alice, emulator_api
):
    start, end = slot(hour=18)
    booking = do_book(seine, booker=alice, start=start, end=end, title="Roadmap")
    deliver_everything()
    booking.refresh_from_db()
    wait_until(lambda: [e for e in emulator_api.events_of(SEINE, start)
                        if e["iCalUId"] == booking.ical_uid])
    pull(seine)
    assert list(bookings_between(seine, start, end)) == [booking]
    booking.refresh_from_db()
    assert (booking.status, booking.room_response) == ("confirmed", "accepted")

    # Moved here: the room answers the new times afresh.
    later = start + dt.timedelta(hours=1)
    booking = do_move_booking(Booking.objects.get(pk=booking.pk), acting=alice, start=later,
                              end=later + dt.timedelta(hours=1))
    assert Booking.objects.get(pk=booking.pk).room_response == ""
    deliver_everything()
    wait_until(lambda: [e for e in emulator_api.events_of(SEINE, start)
                        if e["iCalUId"] == booking.ical_uid
                        and e["start"]["dateTime"].startswith(wall(later)[:16])])
    pull(seine)
    booking.refresh_from_db()
    assert (booking.status, booking.room_response) == ("confirmed", "accepted")
    assert list(bookings_between(seine, start, later + dt.timedelta(hours=1))) == [booking]


def test_a_room_that_declines_marks_the_booking_declined(
    organisation, office, booker_mode, alice, emulator_api
):
    orsay = linked_room(organisation, office, ORSAY)
    start, _ = slot(hour=8)
    # Longer than the room's policy allows (120 minutes): its booking assistant declines.
    booking = do_book(orsay, booker=alice, start=start, end=start + dt.timedelta(hours=3))
    deliver_everything()
    booking.refresh_from_db()

    def room_said_no() -> bool:
        [event] = [e for e in emulator_api.events_of(ALICE, start)
                   if e["iCalUId"] == booking.ical_uid]
        return any(a["status"]["response"] == "declined" for a in event["attendees"])

    wait_until(room_said_no)
    pull(orsay)
    booking.refresh_from_db()
    assert (booking.status, booking.room_response) == ("declined", "declined")
    assert "declined" in booking.status_reason
    assert not Booking.objects.filter(space=orsay, source="outlook").exists()

    # The booker sees it in My bookings, with the reason.
    page = signed_in(alice).get(reverse("my_bookings")).content.decode()
    assert "Declined by the room" in page and "booking assistant" in page


# --- conflicts -----------------------------------------------------------------------------


def test_an_outlook_meeting_over_a_booking_here_is_kept_as_a_conflict(
    organisation, office, room_mode, member, admin, emulator_api
):
    louvre = linked_room(organisation, office, LOUVRE)
    start, end = slot(hour=10)
    ours = do_book(louvre, booker=member, start=start, end=end, title="Interviews")
    deliver_everything()
    # Louvre's booking assistant allows conflicts, so Outlook books it over ours.
    event = book_in_outlook(emulator_api, LOUVRE, start + dt.timedelta(minutes=30),
                            end + dt.timedelta(minutes=30))
    accepted_by_room(emulator_api, LOUVRE, event, start)
    pull(louvre)

    conflict = outlook_bookings(louvre).get(ical_uid=event["iCalUId"])
    assert conflict.status == "conflict" and "Mia Member" in conflict.status_reason
    ours.refresh_from_db()
    assert ours.status == "confirmed"
    assert list(conflicts_of(organisation)) == [conflict]
    assert list(conflicts_of(organisation, account=member)) == [conflict]
    bystander = do_create_account(organisation, email="b@acme.test", password=PASSWORD)
    assert list(conflicts_of(organisation, account=bystander)) == []

    day = f"{start.astimezone(dt.UTC):%Y-%m-%d}"
    url = f"{reverse('home')}?office={office.pk}&date={day}"
    assert "badge conflict" in signed_in(admin).get(url).content.decode()
    assert "badge conflict" in signed_in(member).get(url).content.decode()
    assert "badge conflict" not in signed_in(bystander).get(url).content.decode()


def test_a_conflict_takes_the_slot_when_the_booking_here_is_declined(
    organisation, office, booker_mode, alice, emulator_api
):
    start, end = slot(hour=12)
    seine = linked_room(organisation, office, SEINE)
    # Bob's meeting is in the room's calendar but not pulled yet when Alice books here.
    event = book_in_outlook(emulator_api, SEINE, start, end)
    accepted_by_room(emulator_api, SEINE, event, start)
    booking = do_book(seine, booker=alice, start=start, end=end)
    deliver_everything()
    booking.refresh_from_db()

    def room_said_no() -> bool:
        [mine] = [e for e in emulator_api.events_of(ALICE, start)
                  if e["iCalUId"] == booking.ical_uid]
        return any(a["status"]["response"] == "declined" for a in mine["attendees"])

    wait_until(room_said_no)
    pull(seine)
    booking.refresh_from_db()
    assert booking.status == "declined"
    assert outlook_bookings(seine).get(ical_uid=event["iCalUId"]).status == "confirmed"


# --- a lost delta state -------------------------------------------------------------------


def test_a_lost_delta_token_restarts_a_full_sync_that_reconciles_deletions(
    room_mode, seine, graph_settings, full_app, emulator_api
):
    start, end = slot(days=6)
    kept = book_in_outlook(emulator_api, SEINE, start, end)
    later = start + dt.timedelta(hours=2)
    dropped = book_in_outlook(emulator_api, SEINE, later, later + dt.timedelta(hours=1))
    accepted_by_room(emulator_api, SEINE, kept, start)
    dropped_copy = accepted_by_room(emulator_api, SEINE, dropped, start)
    pull(seine)
    before = outlook_bookings(seine).count()

    # Outlook forgets our sync state, and meanwhile the room's copy is deleted outright.
    emulator_api.call("POST", "delta/invalidate", {"mailbox": SEINE})
    with client_of(graph_settings, full_app) as client:
        client.request("DELETE", f"users/{SEINE}/events/{dropped_copy['id']}")
    result = pull(seine)

    assert result.restarted and result.full and result.reconciled == 1
    assert outlook_bookings(seine).count() == before  # nothing duplicated
    assert outlook_bookings(seine).get(ical_uid=kept["iCalUId"]).status == "confirmed"
    assert outlook_bookings(seine).get(ical_uid=dropped["iCalUId"]).status == "cancelled"
    state = CalendarSyncState.objects.get(link__space=seine)
    assert state.delta_link and state.last_error == ""
    assert not pull(seine).full  # and the new delta link works


def test_a_failed_pull_is_kept_on_the_sync_state_and_changes_nothing(
    room_mode, seine, emulator_api
):
    pull(seine)
    state = CalendarSyncState.objects.get(link__space=seine)
    emulator_api.fault("503", share=1.0, duration_seconds=5, retry_after=0)
    result = pull_room(seine.room_link)
    emulator_api.clear_faults()
    assert result.error
    failed = CalendarSyncState.objects.get(pk=state.pk)
    assert failed.last_error and failed.failures == 1
    assert failed.delta_link == state.delta_link
    assert failed.last_success_at == state.last_success_at
    pull(seine)
    assert CalendarSyncState.objects.get(pk=state.pk).failures == 0


def test_a_room_graph_keeps_failing_for_waits_longer_but_minutes_at_most_when_graph_is_down(
    settings, room_mode, seine, emulator_api
):
    settings.MICROSOFT_POLL_SECONDS = 60
    pull(seine)
    CalendarSyncState.objects.filter(link__space=seine).update(failures=6)
    emulator_api.fault("503", share=1.0, duration_seconds=5, retry_after=0)
    now = timezone.now()
    assert pull_room(seine.room_link, now=now).error
    emulator_api.clear_faults()
    state = CalendarSyncState.objects.get(link__space=seine)
    # 60 s doubled six times would be over an hour: throttling or an outage waits 5 minutes.
    assert state.failures == 7
    assert state.next_pull_at == now + dt.timedelta(seconds=inbound.PULL_BACKOFF_TRANSIENT)

    # A failure a person must fix (consent revoked) is asked about at most hourly.
    inbound.record_pull_failure(state, "Consent revoked", now=now, permanent=True)
    state.refresh_from_db()
    assert state.next_pull_at == now + dt.timedelta(seconds=inbound.PULL_BACKOFF_PERMANENT)
    assert state.last_error == "Consent revoked"


# --- scheduling ----------------------------------------------------------------------------


def test_the_scheduler_enqueues_a_pull_per_linked_room_every_poll_interval(
    settings, organisation, office, room_mode, seine, emulator_api
):
    settings.MICROSOFT_POLL_SECONDS = 60
    linked_room(organisation, office, MONTMARTRE)
    schedule_periodic_work("test-scheduler", interval=5)
    pulls = DBTaskResult.objects.filter(task_path=PULL_TASK)
    assert sorted(r.args_kwargs["args"][0] for r in pulls) == sorted(
        RoomLink.objects.values_list("pk", flat=True))
    schedule_periodic_work("test-scheduler", interval=5)  # not due again for 60 s
    assert DBTaskResult.objects.filter(task_path=PULL_TASK).count() == 2


def test_a_room_due_again_while_its_pull_waits_in_the_queue_gets_no_second_one(
    settings, room_mode, seine, emulator_api
):
    settings.MICROSOFT_POLL_SECONDS = 60
    schedule_periodic_work("test-scheduler", interval=5)
    # No worker has started the pull; the room falls due again (a slow queue).
    CalendarSyncState.objects.filter(link__space=seine).update(next_pull_at=None)
    schedule_periodic_work("test-scheduler", interval=5)
    assert DBTaskResult.objects.filter(task_path=PULL_TASK).count() == 1

    # Once a worker starts it, a room due again is queued anew: the running pull may have
    # read the calendar before the change.
    queued = DBTaskResult.objects.get(task_path=PULL_TASK)
    assert inbound.pull_room_calendar.call(*queued.args_kwargs["args"]) == "ok"
    CalendarSyncState.objects.filter(link__space=seine).update(next_pull_at=None)
    schedule_periodic_work("test-scheduler", interval=5)
    assert DBTaskResult.objects.filter(task_path=PULL_TASK).count() == 2


def test_a_room_is_never_pulled_twice_at_once(room_mode, seine, emulator_api):
    link = seine.room_link
    assert acquire_lease(lease_key("pull", link_id=link.pk), "another-worker",
                         dt.timedelta(minutes=1))
    assert pull_with_lease(link.pk) == "busy"
    assert not CalendarSyncState.objects.filter(link=link, last_success_at__isnull=False).exists()


def test_the_integration_page_says_it_polls_without_a_public_address(
    settings, room_mode, admin_client
):
    settings.PUBLIC_BASE_URL = ""
    page = admin_client.get(reverse("microsoft365")).content.decode()
    assert "polls each room's calendar every 60 seconds" in page


def test_a_booking_committed_between_the_check_and_the_insert_makes_a_conflict(
    first_read_misses, organisation, seine, member
):
    """Two transactions that do not queue on the space's lock can both pass the overlap check;
    the database (PostgreSQL's exclusion constraint, SQLite's triggers) then refuses the
    Outlook meeting's insert, which must become a conflict, not an error."""
    start, end = slot()
    ours = do_book(seine, booker=member, start=start, end=end)
    item = CalendarItem.model_validate({
        "id": "AAMk-race", "iCalUId": "race", "showAs": "busy",
        "start": {"dateTime": wall(start), "timeZone": "UTC"},
        "end": {"dateTime": wall(end), "timeZone": "UTC"},
        "organizer": {"emailAddress": {"name": "Bob", "address": BOB}},
    })
    link = RoomLink.objects.select_related("organisation", "space__office").get(space=seine)
    apply_items(link, organisation, [item], sync_window(timezone.now()))
    booking = Booking.objects.get(space=seine, graph_event_id="AAMk-race")
    assert booking.status == "conflict" and len(first_read_misses) == 2
    assert Booking.objects.get(pk=ours.pk).status == "confirmed"
