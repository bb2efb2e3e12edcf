"""The inbound sync's bulk path: a page of delta items applied at once (`apply_items`).

Pages are built here as Graph would send them, so each scenario runs through both paths, a
page at once and item by item, and must leave the same bookings. One test pulls a real room
calendar from the emulator; one races a booking here against a page being applied.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from m365_emulator.testing import wait_until
from openrooms.bookings.errors import BookingConflict
from openrooms.bookings.models import Booking
from openrooms.bookings.placement import Placement
from openrooms.bookings.services import do_book
from openrooms.integrations.microsoft365.graph.replies import CalendarInstance
from openrooms.integrations.microsoft365.inbound.meetings import apply_items, remove_unseen
from openrooms.integrations.microsoft365.inbound.pull import pull_room
from openrooms.integrations.microsoft365.models import RoomLink
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    connect,
    linked_room,
)

pytestmark = pytest.mark.django_db

BOB = "bob@contoso.onmicrosoft.com"
LOUVRE = "paris-louvre@contoso.onmicrosoft.com"  # its booking assistant allows conflicts
DAY = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(
    hour=0, minute=0, second=0, microsecond=0
)
WINDOW = (DAY - dt.timedelta(days=10), DAY + dt.timedelta(days=10))


def at(hour: float) -> dt.datetime:
    return DAY + dt.timedelta(hours=hour)


def wall(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000")


def meeting(event_id: str, start: float, end: float, **fields: Any) -> CalendarInstance:
    """An instance as calendarView/delta sends it (times in UTC)."""
    organizer = fields.pop("organizer", BOB)
    return CalendarInstance.model_validate({
        "id": event_id, "iCalUId": fields.pop("iCalUId", f"uid-{event_id}"),
        "subject": fields.pop("subject", "Bob Durand"), "showAs": "busy",
        "sensitivity": "normal", "type": "singleInstance", "isCancelled": False,
        "start": {"dateTime": wall(at(start)), "timeZone": "UTC"},
        "end": {"dateTime": wall(at(end)), "timeZone": "UTC"},
        "organizer": {"emailAddress": {"name": organizer.split("@")[0].title(),
                                       "address": organizer}},
        **fields,
    })


def removed(event_id: str) -> CalendarInstance:
    return CalendarInstance.model_validate(
        {"@odata.type": "#microsoft.graph.event", "id": event_id,
         "@removed": {"reason": "deleted"}})


def one_by_one(link: RoomLink, items: list[CalendarInstance]) -> None:
    """What a small incremental round does: each item in its own transaction."""
    for item in items:
        apply_items(link, link.organisation, [item], WINDOW)


def at_once(link: RoomLink, items: list[CalendarInstance]) -> None:
    apply_items(link, link.organisation, items, WINDOW)


def state_of(space) -> list[tuple]:
    """The space's bookings as a user and an admin see them (ids left out)."""
    return sorted(
        (b.source, b.graph_event_id or b.title, b.status, b.start, b.end, b.title,
         b.is_private, b.organizer_email, b.show_as, b.room_response, b.ical_uid,
         b.status_reason, b.cancelled_at is not None)
        for b in Booking.objects.filter(space=space)
    )


@pytest.fixture
def rooms(organisation, office, member):
    """Two identical rooms, each with two bookings made here: one delivered to Outlook (its
    event id known), one whose room copy comes back before its ids did."""
    made = []
    for name in ("first", "second"):
        space = linked_room(organisation, office, f"{name}@contoso.onmicrosoft.com")
        delivered = do_book(space, booker=member, start=at(10), end=at(11), title="Interviews",
                            now=DAY - dt.timedelta(days=1))
        Booking.objects.filter(pk=delivered.pk).update(graph_event_id="own-1")
        do_book(space, booker=member, start=at(14), end=at(15), title="Planning",
                now=DAY - dt.timedelta(days=1))
        made.append(RoomLink.objects.select_related("organisation", "space__office")
                    .get(space=space))
    return made


def first_page(member_email: str) -> list[CalendarInstance]:
    return [
        meeting("m1", 9.5, 10.5),  # over the booking made here: a conflict
        meeting("own-1", 10, 11, organizer="room@contoso.onmicrosoft.com"),  # ours, back
        meeting("m2", 11, 12),
        meeting("m3", 11.5, 12.5),  # over m2: first come (by start) first served
        meeting("m4", 13, 13.5, sensitivity="private", subject="Acquisition of Fabrikam"),
        meeting("copy-2", 14, 15, organizer=member_email),  # ours, before its ids came back
        meeting("m5", 16, 17, isCancelled=True, showAs="free"),  # holds nothing
        meeting("m6", 17, 18, showAs="free"),
        meeting("master", 8, 9, type="seriesMaster"),  # its instances come on their own
        meeting("far", 24 * 30, 24 * 30 + 1),  # outside the window
    ]


def second_page() -> list[CalendarInstance]:
    return [
        removed("m2"),  # m3 gets its slot
        meeting("m1", 12.5, 13),  # moved clear of everything
        meeting("m4", 13, 13.5, sensitivity="private", subject="Acquisition of Fabrikam"),
        meeting("m6", 17, 18),  # no longer free
    ]


def test_a_page_at_once_leaves_the_bookings_one_by_one_would(rooms, organisation, member):
    organisation.show_meeting_subjects = True
    organisation.save()
    bulk, single = rooms
    at_once(bulk, first_page(member.email))
    one_by_one(single, first_page(member.email))
    assert state_of(bulk.space) == state_of(single.space)

    outlook = {b.graph_event_id: b for b in Booking.objects.filter(space=bulk.space,
                                                                  source="outlook")}
    assert sorted(outlook) == ["m1", "m2", "m3", "m4"]  # cancelled and free ones hold nothing
    assert (outlook["m1"].status, outlook["m2"].status, outlook["m3"].status) == (
        "conflict", "confirmed", "conflict")
    assert "Mia Member" in outlook["m1"].status_reason
    assert outlook["m4"].status == "confirmed" and outlook["m4"].title == ""
    ours = Booking.objects.filter(space=bulk.space, source="app").order_by("start")
    assert [(b.status, b.room_response) for b in ours] == [
        ("confirmed", "accepted"), ("confirmed", "accepted")]
    assert ours[1].ical_uid == "uid-copy-2"

    at_once(bulk, second_page())
    one_by_one(single, second_page())
    assert state_of(bulk.space) == state_of(single.space)
    statuses = dict(Booking.objects.filter(space=bulk.space, source="outlook")
                    .values_list("graph_event_id", "status"))
    assert statuses == {"m1": "confirmed", "m2": "cancelled", "m3": "confirmed",
                        "m4": "confirmed", "m6": "confirmed"}


def test_a_replay_changes_nothing(rooms, member):
    link = rooms[0]
    at_once(link, first_page(member.email))
    at_once(link, second_page())
    before = sorted(Booking.objects.filter(space=link.space).values_list(
        "pk", "status", "start", "end", "updated_at", "room_response", "status_reason"))
    at_once(link, first_page(member.email)[1:] + second_page())  # m1 and m2 as last seen
    at_once(link, second_page())
    assert sorted(Booking.objects.filter(space=link.space).values_list(
        "pk", "status", "start", "end", "updated_at", "room_response", "status_reason")) == before


def test_a_private_meetings_subject_is_never_stored(organisation, office):
    organisation.show_meeting_subjects = True
    organisation.save()
    space = linked_room(organisation, office, "private@contoso.onmicrosoft.com")
    link = RoomLink.objects.get(space=space)
    page = [meeting(f"p{n}", n, n + 0.5, sensitivity=level, subject="Acquisition of Fabrikam")
            for n, level in enumerate(["private", "confidential", "normal"])]
    at_once(link, page)
    stored = {b.graph_event_id: b for b in Booking.objects.filter(space=space)}
    assert stored["p0"].title == stored["p1"].title == ""
    assert stored["p0"].is_private and stored["p1"].is_private
    assert stored["p2"].title == "Acquisition of Fabrikam"  # shown, not private
    for row in Booking.objects.filter(space=space, is_private=True).values():
        assert not any("Fabrikam" in str(value) for value in row.values())


def test_queries_are_counted_per_page_not_per_item(organisation, office):
    counts = []
    for size in (30, 300):
        space = linked_room(organisation, office, f"size-{size}@contoso.onmicrosoft.com")
        link = RoomLink.objects.select_related("organisation", "space__office").get(space=space)
        page = [meeting(f"e{size}-{n}", n * 0.5, n * 0.5 + 0.75) for n in range(size)]
        with CaptureQueriesContext(connection) as queries:
            at_once(link, page)
        counts.append(len(queries))
        assert Booking.objects.filter(space=space).count() == size
        # Every other meeting overlaps the one before it: half are conflicts.
        assert Booking.objects.filter(space=space, status="conflict").count() == size // 2
    assert counts[0] == counts[1] <= 12


def test_a_full_sync_that_misses_a_meeting_frees_its_slot(rooms, member):
    link = rooms[0]
    at_once(link, first_page(member.email))
    assert Booking.objects.get(space=link.space, graph_event_id="m3").status == "conflict"
    seen = {item.id for item in first_page(member.email)} - {"m2"}
    assert remove_unseen(link, seen, WINDOW) == 1
    statuses = dict(Booking.objects.filter(space=link.space, source="outlook")
                    .values_list("graph_event_id", "status"))
    assert statuses["m2"] == "cancelled" and statuses["m3"] == "confirmed"


def test_two_meetings_that_swap_times_stay_confirmed(organisation, office):
    """PostgreSQL checks the exclusion constraint at every row written: the slots are let go
    before they are taken again."""
    space = linked_room(organisation, office, "swap@contoso.onmicrosoft.com")
    link = RoomLink.objects.select_related("organisation", "space__office").get(space=space)
    at_once(link, [meeting("a", 9, 10), meeting("b", 10, 11), meeting("c", 11, 12)])
    at_once(link, [meeting("a", 10, 11), meeting("b", 9, 10), meeting("c", 11, 12)])
    assert sorted(Booking.objects.filter(space=space).values_list(
        "graph_event_id", "status", "start")) == [
        ("a", "confirmed", at(10)), ("b", "confirmed", at(9)), ("c", "confirmed", at(11))]


def test_a_booking_committed_behind_the_pages_back_makes_a_conflict(
    first_read_misses, organisation, office, member
):
    """Had a writer not queued on the space's lock, the page's first read misses its booking:
    the database (PostgreSQL's exclusion constraint, SQLite's triggers) refuses the page, and
    applied again from a fresh read the meeting becomes a conflict, not an error."""
    space = linked_room(organisation, office, "race@contoso.onmicrosoft.com")
    link = RoomLink.objects.select_related("organisation", "space__office").get(space=space)
    ours = do_book(space, booker=member, start=at(9), end=at(10), now=DAY - dt.timedelta(1))
    at_once(link, [meeting("late", 9, 10), meeting("fine", 11, 12)])
    statuses = dict(Booking.objects.filter(space=space, source="outlook")
                    .values_list("graph_event_id", "status"))
    assert statuses == {"late": "conflict", "fine": "confirmed"}
    assert Booking.objects.get(pk=ours.pk).status == "confirmed"
    assert len(first_read_misses) == 2


@pytest.mark.django_db(transaction=True)
def test_a_booking_here_waits_for_the_page_and_is_refused(monkeypatch, organisation, office,
                                                          member):
    """The page holds the space's lock from its reads to its commit: a booking made here
    meanwhile waits, then sees the Outlook meeting and is refused."""
    space = linked_room(organisation, office, "busy@contoso.onmicrosoft.com")
    link = RoomLink.objects.select_related("organisation", "space__office").get(space=space)
    placing, release = threading.Event(), threading.Event()
    real_settle = Placement.settle

    def slow_settle(self: Placement) -> None:
        placing.set()
        assert release.wait(10)
        real_settle(self)

    monkeypatch.setattr(Placement, "settle", slow_settle)
    outcome: dict[str, object] = {}

    def book_here() -> None:
        assert placing.wait(10)
        try:
            outcome["booking"] = do_book(space, booker=member, start=at(9), end=at(10),
                                         now=DAY - dt.timedelta(days=1))
        except BookingConflict as conflict:
            outcome["refused"] = conflict
        finally:
            connection.close()

    booker = threading.Thread(target=book_here)
    booker.start()
    releaser = threading.Timer(0.5, release.set)
    releaser.start()
    at_once(link, [meeting("outlook", 9.5, 10.5)])
    booker.join(10)
    releaser.join()
    assert "refused" in outcome, outcome
    assert list(Booking.objects.filter(space=space).values_list("source", "status")) == [
        ("outlook", "confirmed")]


# --- through the emulator ----------------------------------------------------------------------




def test_a_first_sync_over_bookings_here_keeps_them_and_records_conflicts(
    organisation, office, member, graph_settings, full_app, emulator_api
):
    connect(organisation, graph_settings, full_app, "room")
    louvre = linked_room(organisation, office, LOUVRE)
    ours = do_book(louvre, booker=member, start=at(10), end=at(11), title="Interviews")
    for start, end in ((9.5, 10.5), (12, 13), (12.5, 13.5)):  # Louvre accepts overlaps
        emulator_api.call("POST", "outlook/book", {
            "organizer": BOB, "room": LOUVRE, "subject": "Bob's", "timeZone": "UTC",
            "start": wall(at(start))[:19], "end": wall(at(end))[:19]})
    wait_until(lambda: len([e for e in emulator_api.events_of(LOUVRE, at(0))
                            if e["organizer"]["emailAddress"]["address"] == BOB]) == 3)

    result = pull_room(RoomLink.objects.get(space=louvre))
    assert not result.error and result.full and result.applied >= 3
    that_day = Booking.objects.filter(space=louvre, source="outlook", start__gte=at(0),
                                      start__lt=at(24))
    found = sorted(that_day.values_list("start", "status"))
    assert found == [(at(9.5), "conflict"), (at(12), "confirmed"), (at(12.5), "conflict")]
    assert Booking.objects.get(pk=ours.pk).status == "confirmed"
    again = pull_room(RoomLink.objects.get(space=louvre))
    assert not again.error and not again.full
    assert sorted(that_day.values_list("start", "status")) == found
