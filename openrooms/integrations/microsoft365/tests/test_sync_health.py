"""Settings → Apps & Integrations → Office 365 → Sync health: what admins see and can do.

What admins see of each room's sync, the outbox and Outlook's conflicts and declines, and what
they can do about it.

The page reads the database only, so most tests need no emulator: states and entries are set
as the sync would leave them. One test runs the queued resync against the emulator.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.http import HttpResponseRedirect
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book
from openrooms.conftest import signed_in
from openrooms.integrations.microsoft365.connection import do_save_connection
from openrooms.integrations.microsoft365.inbound.pull import pull_with_lease
from openrooms.integrations.microsoft365.models import (
    CalendarSyncState,
    OutboxEntry,
    RoomLink,
)
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    SEINE,
    EmulatorControl,
    connect,
    linked_room,
    slot,
)
from openrooms.jobs.heartbeat import beat
from openrooms.spaces.services import do_create_office

pytestmark = pytest.mark.django_db

PAGE = "/settings/integrations/microsoft365/sync/"
LONDON = zoneinfo.ZoneInfo("Europe/London")
PULL_TASK = "openrooms.integrations.microsoft365.inbound.pull.pull_room_calendar"
DELIVER_TASK = "openrooms.integrations.microsoft365.outbound.deliver_outbox"
DENIED = "Access is denied. Check credentials and try again. (403, ErrorAccessDenied)"


def connect_offline(organisation) -> None:
    """Credentials nobody calls: the page never talks to Graph."""
    do_save_connection(
        organisation, tenant_id="contoso.onmicrosoft.com",
        client_id="5ca0ed64-3811-5117-9455-a85a52a9b696", client_secret="never-sent~secret",
        secret_expires_on=None, write_mode="room",
    )


def exact(moment: dt.datetime) -> str:
    """How the page writes a time in the London office's zone."""
    return timezone.localtime(moment, LONDON).strftime("%-d %b, %H:%M %Z")


def state_of(space, **fields) -> CalendarSyncState:
    state, _ = CalendarSyncState.objects.get_or_create(link=RoomLink.objects.get(space=space))
    CalendarSyncState.objects.filter(pk=state.pk).update(**fields)
    state.refresh_from_db()
    return state


def failing_entry(booking: Booking, **fields) -> OutboxEntry:
    """The entry the booking's creation recorded, as delivery leaves it after failures."""
    entry = OutboxEntry.objects.get(booking=booking)
    changes = {
        "state": OutboxEntry.State.FAILED, "attempts": 4, "last_error": DENIED,
        "last_attempt_at": timezone.now() - dt.timedelta(minutes=3),
        "next_attempt_at": timezone.now() + dt.timedelta(minutes=20), **fields,
    }
    OutboxEntry.objects.filter(pk=entry.pk).update(**changes)
    entry.refresh_from_db()
    return entry


def row(page: str, element_id: str) -> str:
    """The table row of that id, with Django's non-breaking spaces as plain ones."""
    start = page.index(f'id="{element_id}"')
    return page[start:page.index("</tr>", start)].replace("\xa0", " ")


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def connected(organisation):
    connect_offline(organisation)


@pytest.fixture
def seine(organisation, office, connected):
    return linked_room(organisation, office, SEINE)


@pytest.fixture
def bastille(organisation, office, connected):
    return linked_room(organisation, office, "paris-bastille@contoso.onmicrosoft.com")


@pytest.fixture
def booking(seine, member):
    start, end = slot(days=3)
    return do_book(seine, booker=member, start=start, end=end, title="Planning")


# --- what the page shows ---------------------------------------------------------------------


def test_the_page_lists_each_linked_room_with_its_last_successful_pull(
    admin_client, seine, bastille
):
    pulled = timezone.now() - dt.timedelta(minutes=5)
    state_of(seine, last_pull_at=pulled, last_success_at=pulled, last_full_sync_at=pulled,
             next_pull_at=timezone.now() + dt.timedelta(minutes=1))

    response = admin_client.get(PAGE)

    assert response.status_code == 200
    page = response.text
    seine_row = row(page, f"sync-room-{seine.room_link.pk}")
    assert "paris-seine" in seine_row and SEINE in seine_row and "London HQ" in seine_row
    assert "5 minutes ago" in seine_row
    assert exact(pulled) in seine_row
    assert "Up to date" in seine_row
    assert "None (polling)" in seine_row
    assert "Not pulled yet" in row(page, f"sync-room-{bastille.room_link.pk}")
    assert "<strong>2</strong> rooms linked" in page
    assert "<strong>0</strong> in error" in page


def test_a_failing_pull_shows_its_error_since_when_and_how_often(admin_client, seine, bastille):
    succeeded = timezone.now() - dt.timedelta(hours=2)
    failed = timezone.now() - dt.timedelta(minutes=1)
    state_of(seine, last_success_at=succeeded, last_pull_at=failed, last_error=DENIED,
             last_error_at=failed, failures=4)

    page = admin_client.get(PAGE).text

    seine_row = row(page, f"sync-room-{seine.room_link.pk}")
    assert "m365-row-error" in seine_row
    assert "Access is denied. Check credentials and try again." in seine_row
    assert "4 failures in a row since the last success" in seine_row
    assert exact(failed) in seine_row and exact(succeeded) in seine_row
    assert "m365-row-error" not in row(page, f"sync-room-{bastille.room_link.pk}")
    assert "<strong>1</strong> in error" in page


def test_the_subscription_state_and_its_expiry_are_shown(admin_client, organisation, office,
                                                         connected):
    now = timezone.now()
    live, expiring, broken, polled = (
        linked_room(organisation, office, f"room-{n}@contoso.onmicrosoft.com") for n in range(4)
    )
    live_until = now + dt.timedelta(days=2)
    state_of(live, subscription_id="sub-1", subscription_expires_at=live_until)
    state_of(expiring, subscription_id="sub-2", subscription_expires_at=now + dt.timedelta(hours=1))
    state_of(broken, subscription_error="Subscription validation request failed.",
             subscription_error_at=now - dt.timedelta(minutes=10))
    state_of(polled)

    page = admin_client.get(PAGE).text

    assert f"Live until {exact(live_until)}" in row(page, f"sync-room-{live.room_link.pk}")
    assert "Expiring" in row(page, f"sync-room-{expiring.room_link.pk}")
    broken_row = row(page, f"sync-room-{broken.room_link.pk}")
    assert "Error: Subscription validation request failed." in broken_row
    assert "10 minutes ago" in broken_row
    assert "None (polling)" in row(page, f"sync-room-{polled.room_link.pk}")
    assert "<strong>1</strong> in error" in page


def test_it_says_how_changes_made_in_outlook_arrive(admin_client, connected, settings):
    settings.PUBLIC_BASE_URL = "http://rooms.example.test"
    settings.MICROSOFT_POLL_SECONDS = 45
    assert "by polling each room every 45 seconds" in admin_client.get(PAGE).text
    settings.PUBLIC_BASE_URL = "https://rooms.example.test"
    settings.MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS = 600
    page = admin_client.get(PAGE).text
    assert "notifies openrooms of changes made in Outlook (webhooks)" in page
    assert "the 0 of 0 rooms with a live subscription" in page
    assert "every 600 seconds with a live subscription, every 45 seconds without" in page
    settings.PUBLIC_BASE_URL = ""
    settings.MICROSOFT_POLL_SECONDS = 0
    assert "polling is off" in admin_client.get(PAGE).text


def test_undelivered_changes_are_listed_with_their_error_and_next_attempt(
    admin_client, seine, booking, member
):
    entry = failing_entry(booking, note="The booker has no mailbox: written to the room.")

    page = admin_client.get(PAGE).text

    entry_row = row(page, f"outbox-entry-{entry.pk}")
    assert "paris-seine" in entry_row and "Mia Member" in entry_row and "Planning" in entry_row
    assert timezone.localtime(booking.start, LONDON).strftime("%a %-d %b %Y, %H:%M") in entry_row
    assert "Create the event" in entry_row and "Failing" in entry_row
    assert DENIED in entry_row
    assert "3 minutes ago" in entry_row
    assert exact(entry.next_attempt_at) in entry_row
    assert "Note: The booker has no mailbox" in entry_row
    assert "Retry now" in entry_row and "Give up" in entry_row
    assert "<strong>1</strong> failing" in page
    assert "1 failing" in row(page, f"sync-room-{seine.room_link.pk}")


def test_a_change_on_its_way_is_not_listed_but_an_overdue_one_is(admin_client, booking):
    entry = OutboxEntry.objects.get(booking=booking)
    assert f"outbox-entry-{entry.pk}" not in admin_client.get(PAGE).text

    OutboxEntry.objects.filter(pk=entry.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(minutes=10)
    )
    page = admin_client.get(PAGE).text
    assert "Not tried yet: is a worker running?" in row(page, f"outbox-entry-{entry.pk}")


def test_upcoming_conflicts_and_declines_are_listed_with_why(
    admin_client, seine, booking, office
):
    start, end = booking.start, booking.end
    Booking.objects.filter(pk=booking.pk).update(
        status=Booking.Status.DECLINED, status_reason="The room declined: at most 60 minutes."
    )
    conflict = Booking.objects.create(
        space=seine, start=start, end=end, source=Booking.Source.OUTLOOK,
        status=Booking.Status.CONFLICT, organizer_name="Bob Outlook",
        status_reason="Booked in Outlook over Mia Member's booking; one of the two must move.",
        graph_event_id="evt-1",
    )
    past_start = timezone.now() - dt.timedelta(days=1)
    Booking.objects.create(
        space=seine, start=past_start, end=past_start + dt.timedelta(hours=1),
        source=Booking.Source.OUTLOOK, status=Booking.Status.CONFLICT, graph_event_id="evt-0",
        status_reason="An old conflict",
    )

    page = admin_client.get(PAGE).text

    declined = row(page, f"sync-booking-{booking.pk}")
    assert "Declined by the room" in declined and "at most 60 minutes" in declined
    assert "Mia Member" in declined
    clash = row(page, f"sync-booking-{conflict.pk}")
    assert "Conflict" in clash and "Bob Outlook" in clash and "one of the two must move" in clash
    day = timezone.localtime(start, LONDON).date().isoformat()
    assert f"/?office={office.pk}&amp;date={day}" in clash
    assert "An old conflict" not in page
    assert "<strong>1</strong> conflict, <strong>1</strong> declined" in page


def test_the_office_365_page_and_the_settings_menu_link_to_it(admin_client, connected):
    page = admin_client.get(reverse("microsoft365")).text
    assert f'href="{PAGE}"' in page
    assert page.count(f'href="{PAGE}"') == 2  # the page's own link and the menu's


def test_the_room_table_refreshes_itself(admin_client, seine):
    fragment = admin_client.get(reverse("microsoft365_sync_rooms"))
    assert fragment.status_code == 200
    assert 'hx-trigger="every 10s"' in fragment.text
    assert f"sync-room-{seine.room_link.pk}" in fragment.text
    assert "<html" not in fragment.text


def test_it_opens_without_a_connection(admin_client):
    page = admin_client.get(PAGE)
    assert page.status_code == 200
    assert "Office 365 is not connected" in page.text
    assert "No rooms are linked to Microsoft 365 yet" in page.text


def test_its_query_count_does_not_grow_with_rooms_and_entries(
    admin_client, organisation, office, connected, member
):
    def fill(first: int, count: int) -> None:
        for n in range(first, first + count):
            space = linked_room(organisation, office, f"room-{n}@contoso.onmicrosoft.com")
            state_of(space, last_error="boom", failures=1, subscription_id=f"sub-{n}",
                     subscription_expires_at=timezone.now() + dt.timedelta(days=1))
            start, end = slot(days=2 + n)
            failing_entry(do_book(space, booker=member, start=start, end=end))
            Booking.objects.create(
                space=space, start=start, end=end, source=Booking.Source.OUTLOOK,
                status=Booking.Status.CONFLICT, graph_event_id=f"evt-{n}",
            )

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(PAGE).status_code == 200
        return len(captured)

    fill(0, 2)
    few = queries()
    fill(2, 6)
    assert queries() == few


# --- who may see it ------------------------------------------------------------------------


def test_members_get_403_and_visitors_the_sign_in_page(member_client, seine, booking):
    entry = failing_entry(booking)
    link = seine.room_link
    assert member_client.get(PAGE).status_code == 403
    assert member_client.get(reverse("microsoft365_sync_rooms")).status_code == 403
    for name, pk in (("microsoft365_resync_room", link.pk), ("microsoft365_retry_entry", entry.pk)):
        assert member_client.post(reverse(name, args=[pk])).status_code == 403
    give_up = reverse("microsoft365_give_up_entry", args=[entry.pk])
    assert member_client.get(give_up).status_code == 403
    assert member_client.post(give_up).status_code == 403
    entry.refresh_from_db()
    assert entry.state == OutboxEntry.State.FAILED

    response = Client().get(PAGE)
    assert isinstance(response, HttpResponseRedirect)
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_another_organisations_rooms_and_entries_never_appear(
    admin_client, seine, booking, other_organisation, outsider
):
    connect_offline(other_organisation)
    globex = do_create_office(other_organisation, name="Globex Tower", timezone="UTC")
    secret = linked_room(other_organisation, globex, "globex-secret@globex.test")
    state_of(secret, last_error="Globex's own error", failures=2)
    start, end = slot(days=4)
    theirs = do_book(secret, booker=outsider, start=start, end=end, title="Globex merger")
    failing_entry(theirs, last_error="Globex's outbox error")
    Booking.objects.create(
        space=secret, start=start, end=end, source=Booking.Source.OUTLOOK,
        status=Booking.Status.CONFLICT, status_reason="Globex's conflict", graph_event_id="g",
    )
    failing_entry(booking)

    for path in (PAGE, reverse("microsoft365_sync_rooms")):
        page = admin_client.get(path).text
        for secret_text in ("Globex", "globex-secret", "outsider@globex.test"):
            assert secret_text not in page, (path, secret_text)
    page = admin_client.get(PAGE).text
    assert "<strong>1</strong> room linked" in page
    assert "<strong>0</strong> in error" in page
    assert "<strong>1</strong> failing" in page
    assert "<strong>0</strong> conflicts" in page


def test_ids_of_another_organisation_are_404(admin_client, other_organisation, outsider):
    connect_offline(other_organisation)
    globex = do_create_office(other_organisation, name="Globex Tower", timezone="UTC")
    secret = linked_room(other_organisation, globex, "globex-secret@globex.test")
    state_of(secret, delta_link="https://graph.example.test/delta?$deltatoken=globex")
    start, end = slot(days=4)
    entry = failing_entry(do_book(secret, booker=outsider, start=start, end=end))
    link = secret.room_link

    for name, pk in (("microsoft365_resync_room", link.pk), ("microsoft365_retry_entry", entry.pk)):
        assert admin_client.post(reverse(name, args=[pk])).status_code == 404
    give_up = reverse("microsoft365_give_up_entry", args=[entry.pk])
    assert admin_client.get(give_up).status_code == 404
    assert admin_client.post(give_up).status_code == 404

    before = (entry.state, entry.next_attempt_at)
    entry.refresh_from_db()
    assert (entry.state, entry.next_attempt_at) == before
    assert CalendarSyncState.objects.get(link=link).delta_link.endswith("globex")
    assert not DBTaskResult.objects.filter(task_path=PULL_TASK).exists()


def test_every_action_needs_the_csrf_token(admin, seine, booking):
    entry = failing_entry(booking)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    for name, pk in (("microsoft365_resync_room", seine.room_link.pk),
                     ("microsoft365_retry_entry", entry.pk),
                     ("microsoft365_give_up_entry", entry.pk)):
        assert client.post(reverse(name, args=[pk])).status_code == 403
    entry.refresh_from_db()
    assert entry.state == OutboxEntry.State.FAILED


# --- what admins can do --------------------------------------------------------------------


def test_resync_clears_the_delta_link_marks_the_room_due_and_enqueues_a_pull(
    admin_client, seine, django_capture_on_commit_callbacks
):
    later = timezone.now() + dt.timedelta(minutes=30)
    state_of(seine, delta_link="https://graph.example.test/delta?$deltatoken=abc",
             next_pull_at=later, last_success_at=timezone.now())
    link = seine.room_link

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("microsoft365_resync_room", args=[link.pk]))

    assert response.status_code == 302 and response.url == PAGE
    assert "Resync of paris-seine queued" in messages_of(response)[0]
    state = CalendarSyncState.objects.get(link=link)
    assert state.delta_link == ""
    assert state.next_pull_at is not None
    assert state.next_pull_at <= timezone.now()
    [queued] = DBTaskResult.objects.filter(task_path=PULL_TASK)
    assert queued.args_kwargs["args"] == [link.pk]


def test_resync_of_a_room_never_pulled_creates_its_state(
    admin_client, seine, django_capture_on_commit_callbacks
):
    link = seine.room_link
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("microsoft365_resync_room", args=[link.pk]))
    assert CalendarSyncState.objects.get(link=link).next_pull_at is not None
    assert DBTaskResult.objects.filter(task_path=PULL_TASK).count() == 1


def test_get_on_an_action_is_405(admin_client, seine, booking):
    entry = failing_entry(booking)
    assert admin_client.get(
        reverse("microsoft365_resync_room", args=[seine.room_link.pk])
    ).status_code == 405
    assert admin_client.get(reverse("microsoft365_retry_entry", args=[entry.pk])).status_code == 405


def test_retry_makes_a_failing_entry_due_now_and_queues_its_delivery(
    admin_client, booking, django_capture_on_commit_callbacks
):
    entry = failing_entry(booking)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("microsoft365_retry_entry", args=[entry.pk]))

    assert response.status_code == 302 and response.url == PAGE
    assert messages_of(response)[0].startswith("Retrying now: “Create the event” for paris-seine")
    entry.refresh_from_db()
    assert entry.next_attempt_at <= timezone.now()
    assert entry.state == OutboxEntry.State.FAILED  # until a delivery succeeds
    queued = DBTaskResult.objects.filter(task_path=DELIVER_TASK)
    assert [r.args_kwargs["args"] for r in queued] == [[entry.mailbox]]


def test_give_up_asks_first_then_stops_retrying_and_the_entry_stays_listed(
    admin_client, admin, booking
):
    entry = failing_entry(booking)
    give_up = reverse("microsoft365_give_up_entry", args=[entry.pk])

    confirm = admin_client.get(give_up)
    assert confirm.status_code == 200
    assert "Give up on this change?" in confirm.text
    assert DENIED in confirm.text
    entry.refresh_from_db()
    assert entry.state == OutboxEntry.State.FAILED

    response = admin_client.post(give_up)

    assert response.status_code == 302 and response.url == PAGE
    assert "it is no longer retried" in messages_of(response)[0]
    entry.refresh_from_db()
    assert entry.state == OutboxEntry.State.GIVEN_UP
    assert entry.given_up_by == admin
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    entry_row = row(admin_client.get(PAGE).text, f"outbox-entry-{entry.pk}")
    assert "Given up by" in entry_row and "Retry now" not in entry_row
    assert "there is nothing to give up" in admin_client.get(give_up).text


def test_an_entry_given_up_long_ago_is_no_longer_listed(admin_client, booking):
    entry = failing_entry(booking, state=OutboxEntry.State.GIVEN_UP,
                          given_up_at=timezone.now() - dt.timedelta(days=8))
    assert f"outbox-entry-{entry.pk}" not in admin_client.get(PAGE).text


def test_retrying_a_delivered_entry_changes_nothing(admin_client, booking):
    entry = failing_entry(booking, state=OutboxEntry.State.DELIVERED)
    response = admin_client.post(reverse("microsoft365_retry_entry", args=[entry.pk]))
    assert "Nothing to retry" in messages_of(response)[0]
    entry.refresh_from_db()
    assert entry.state == OutboxEntry.State.DELIVERED


# --- the queued resync, run against the emulator --------------------------------


def test_the_queued_resync_is_a_full_sync_that_reconciles_the_room(
    organisation, office, admin, graph_settings, full_app, django_capture_on_commit_callbacks
):
    EmulatorControl(graph_settings).reset()
    connect(organisation, graph_settings, full_app, "room")
    space = linked_room(organisation, office, SEINE)
    link = space.room_link
    assert pull_with_lease(link.pk) == "ok"
    first = CalendarSyncState.objects.get(link=link)
    assert first.delta_link
    # An Outlook meeting this side still holds though Outlook no longer has it (a change the
    # delta rounds missed): only a full sync notices.
    start, end = slot(days=6)
    stray = Booking.objects.create(space=space, start=start, end=end, graph_event_id="gone",
                                   source=Booking.Source.OUTLOOK)
    assert pull_with_lease(link.pk) == "ok"
    stray.refresh_from_db()
    assert stray.status == Booking.Status.CONFIRMED

    with django_capture_on_commit_callbacks(execute=True):
        signed_in(admin).post(reverse("microsoft365_resync_room", args=[link.pk]))
    # What the worker does with the queued row (its own loop would close this test's
    # database connection).
    [queued] = DBTaskResult.objects.filter(task_path=PULL_TASK)
    assert queued.task.call(*queued.args_kwargs["args"], **queued.args_kwargs["kwargs"]) == "ok"

    stray.refresh_from_db()
    assert stray.status == Booking.Status.CANCELLED
    state = CalendarSyncState.objects.get(link=link)
    assert state.last_full_sync_at is not None and first.last_full_sync_at is not None
    assert state.delta_link and state.last_full_sync_at > first.last_full_sync_at


def summary_item(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start:page.index("</li>", start)]


def test_it_shows_the_workers_running_and_the_oldest_change_waiting(admin_client, booking):
    page = admin_client.get(PAGE).text
    assert "<strong>0</strong> workers running: nothing reaches Outlook until" in summary_item(
        page, "sync-workers")
    OutboxEntry.objects.filter(booking=booking).update(
        created_at=timezone.now() - dt.timedelta(minutes=42))
    beat("sync-health-test:1:abc:")
    page = admin_client.get(PAGE).text
    assert "<strong>1</strong> worker running" in summary_item(page, "sync-workers")
    assert "<strong>42</strong> minutes old" in summary_item(page, "sync-oldest")
