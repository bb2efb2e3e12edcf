"""Rooms linked before imports checked that a mailbox is a room's: a person's mailbox and an
on-premises one are flagged, read and written no more, shown on sync health, and their bookings
say "not in Outlook"; a booker without a mailbox sees where the booking went. Against the
emulator."""

from __future__ import annotations

import html

import pytest
from django.test import Client
from django.urls import reverse

from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book
from openrooms.integrations.microsoft365.inbound.pull import pull_room
from openrooms.integrations.microsoft365.models import OutboxEntry, RoomLink
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    ALICE,
    SEINE,
    deliver_everything,
    linked_room,
    slot,
)
from openrooms.integrations.microsoft365.tests.webhooks.helpers import wall

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_retries")]

ON_PREMISES_ROOM = "legacy-boardroom@contoso.onmicrosoft.com"


def my_bookings(client: Client) -> str:
    return html.unescape(client.get(reverse("my_bookings")).text)


def test_a_persons_mailbox_linked_as_a_room_is_flagged_and_its_meetings_removed(
    room_mode, organisation, office, member, member_client, admin_client, emulator_api
):
    person_room = linked_room(organisation, office, ALICE)  # as an older version allowed
    link = RoomLink.objects.get(space=person_room)
    start, end = slot()
    emulator_api.call("POST", "outlook/book", {  # Alice's own meeting, in her calendar
        "organizer": ALICE, "room": SEINE, "subject": "Alice's dentist",
        "start": wall(start), "end": wall(end), "timeZone": "UTC",
    })
    # What the older version had already copied from Alice's calendar:
    Booking.objects.create(space=person_room, start=start, end=end, title="Alice's dentist",
                           source=Booking.Source.OUTLOOK, graph_event_id="copied-before")

    pull_room(link)

    link.refresh_from_db()
    assert link.mailbox_problem == RoomLink.MailboxProblem.PERSON
    assert not Booking.objects.filter(space=person_room, status="confirmed").exists()
    health = html.unescape(admin_client.get(reverse("microsoft365_sync")).text)
    assert "Not in Outlook" in health
    assert f"{ALICE} is a person's mailbox, not a room" in health

    later_start, later_end = slot(days=6)
    booking = do_book(person_room, booker=member, start=later_start, end=later_end)
    deliver_everything()
    entry = OutboxEntry.objects.get(booking=booking)
    assert entry.state == OutboxEntry.State.GIVEN_UP
    assert "is a person's mailbox" in entry.last_error
    assert emulator_api.events_of(ALICE, later_start) == []  # nothing written to Alice
    assert "Not in Outlook: this room's mailbox cannot be synced" in my_bookings(member_client)
    pull_room(link)  # and nothing read from her calendar any more
    assert not Booking.objects.filter(space=person_room, source="outlook",
                                      status="confirmed").exists()


def test_an_on_premises_room_is_flagged_at_its_first_pull_and_gives_up_its_writes(
    room_mode, organisation, office, member, member_client, admin_client
):
    room = linked_room(organisation, office, ON_PREMISES_ROOM)
    link = RoomLink.objects.get(space=room)
    RoomLink.objects.filter(pk=link.pk).update(mailbox_checked_at="2026-01-01T00:00:00Z")
    link.refresh_from_db()

    result = pull_room(link)

    link.refresh_from_db()
    assert link.mailbox_problem == RoomLink.MailboxProblem.ON_PREMISES
    assert "hosted in on-premises Exchange" in (result.error or "")
    assert "Hybrid deployments are not supported" in html.unescape(
        admin_client.get(reverse("microsoft365_sync")).text)
    start, end = slot()
    booking = do_book(room, booker=member, start=start, end=end)
    deliver_everything()
    entry = OutboxEntry.objects.get(booking=booking)
    assert entry.state == OutboxEntry.State.GIVEN_UP and entry.attempts == 1
    assert "Not in Outlook" in my_bookings(member_client)


def test_a_room_mailbox_linked_before_the_check_is_checked_once_and_kept(
    room_mode, organisation, office, emulator_api
):
    room = linked_room(organisation, office, SEINE)
    link = RoomLink.objects.get(space=room)
    pull_room(link)
    link.refresh_from_db()
    assert link.mailbox_problem == "" and link.mailbox_checked_at is not None
    def purpose_asked() -> int:
        counts = emulator_api.counters()["requests_per_endpoint"]
        return sum(n for endpoint, n in counts.items() if "mailboxSettings" in endpoint)

    assert purpose_asked() == 1
    pull_room(link)
    assert purpose_asked() == 1


def test_a_booker_without_a_mailbox_sees_the_booking_went_to_the_rooms_calendar(
    booker_mode, seine, member, member_client, alice
):
    start, end = slot()
    without = do_book(seine, booker=member, start=start, end=end)
    deliver_everything()
    assert OutboxEntry.objects.get(booking=without).mailbox == SEINE
    page = my_bookings(member_client)
    assert "Written to the room's calendar (you have no Microsoft 365 mailbox)." in page
    later_start, later_end = slot(days=6)
    do_book(seine, booker=alice, start=later_start, end=later_end)
    deliver_everything()
    alice_client = Client()
    alice_client.force_login(alice)
    assert "Written to the room's calendar" not in my_bookings(alice_client)
