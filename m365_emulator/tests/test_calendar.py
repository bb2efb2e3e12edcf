"""The calendar engine: events, the Resource Booking Assistant, delta, render, persistence."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from m365_emulator.calendar.model import RoomPolicy
from m365_emulator.calendar.render import render_event
from m365_emulator.calendar.store import CalendarStore
from m365_emulator.errors import GraphError


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = utc(2026, 11, 1, 8)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[tuple[str, str, str]]:
    return []


@pytest.fixture
def store(clock, changes) -> CalendarStore:
    s = CalendarStore(clock=clock, on_change=lambda *change: changes.append(change))
    s.add_mailbox("ada", "ada@contoso.com", "Ada Lovelace")
    s.add_mailbox("bob", "bob@contoso.com", "Bob Booker")
    s.add_mailbox("room", "room@contoso.com", "Room 1", room_policy=RoomPolicy())
    return s


def event(start: str, end: str, *, room: bool = False, tz: str = "UTC", **fields) -> dict:
    payload = {
        "subject": "Planning",
        "body": {"contentType": "text", "content": "Agenda"},
        "start": {"dateTime": start, "timeZone": tz},
        "end": {"dateTime": end, "timeZone": tz},
        **fields,
    }
    if room:
        payload["attendees"] = [
            {"type": "resource", "emailAddress": {"address": "room@contoso.com"}}
        ]
    return payload


def book(store, clock, user="ada", start="2026-11-25T09:00:00", end="2026-11-25T10:00:00", **kw):
    """Invite the room and let its Resource Booking Assistant answer."""
    created = store.create_event(user, event(start, end, room=True, **kw))
    clock.advance(2)
    store.run_due_rba()
    return store.get_event(user, created["id"])


def room_response(item: dict) -> str:
    return next(a for a in item["attendees"] if a["type"] == "resource")["status"]["response"]


def room_view(store, day=25) -> list[dict]:
    return store.calendar_view("room", utc(2026, 11, day), utc(2026, 11, day + 1))


# ----- events ---------------------------------------------------------------------------


def test_it_stores_an_event_with_the_mailbox_as_organizer(store):
    created = store.create_event(
        "ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00", tz="W. Europe Standard Time")
    )
    assert created["id"].startswith("AAMkAG") and len(created["id"]) > 60
    assert created["start"] == {"dateTime": "2026-11-25T08:00:00.0000000", "timeZone": "UTC"}
    assert created["organizer"]["emailAddress"] == {
        "name": "Ada Lovelace",
        "address": "ada@contoso.com",
    }
    assert created["isOrganizer"] and created["type"] == "singleInstance"
    assert store.get_event("ada", created["id"])["subject"] == "Planning"


def test_calendar_view_window_edges(store):
    store.create_event("ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00"))
    store.create_event("ada", event("2026-11-25T07:00:00", "2026-11-25T07:30:00", subject="Early"))

    def subjects(start, end):
        return [i["subject"] for i in store.calendar_view("ada", start, end)]

    # Graph also lists an event ending exactly at startDateTime (not one starting at the end).
    assert subjects(utc(2026, 11, 25, 10), utc(2026, 11, 25, 11)) == ["Planning"]
    assert subjects(utc(2026, 11, 25, 10, 0, 1), utc(2026, 11, 25, 11)) == []
    assert subjects(utc(2026, 11, 25, 8), utc(2026, 11, 25, 9)) == []
    assert subjects(utc(2026, 11, 25, 9, 59), utc(2026, 11, 25, 11)) == ["Planning"]
    assert subjects(utc(2026, 11, 25), utc(2026, 11, 26)) == ["Early", "Planning"]


def test_same_transaction_id_returns_the_original_event(store):
    first = store.create_event(
        "ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00", transactionId="tx-1")
    )
    again = store.create_event(
        "ada",
        event("2026-11-26T09:00:00", "2026-11-26T10:00:00", transactionId="tx-1", subject="X"),
    )
    assert again == first
    assert len(store.mailbox_events("ada")) == 1
    elsewhere = store.create_event(
        "bob", event("2026-11-25T09:00:00", "2026-11-25T10:00:00", transactionId="tx-1")
    )
    assert elsewhere["id"] != first["id"]


def test_transaction_id_cannot_change(store):
    created = store.create_event(
        "ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00", transactionId="tx-1")
    )
    store.update_event("ada", created["id"], {"transactionId": "tx-1", "subject": "Same"})
    with pytest.raises(GraphError) as error:
        store.update_event("ada", created["id"], {"transactionId": "tx-2"})
    assert error.value.status == 400


def test_update_changes_change_key_and_last_modified(store, clock):
    created = store.create_event("ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00"))
    clock.advance(60)
    updated = store.update_event("ada", created["id"], {"subject": "Retro"})
    assert updated["changeKey"] != created["changeKey"]
    assert updated["lastModifiedDateTime"] > created["lastModifiedDateTime"]
    assert updated["createdDateTime"] == created["createdDateTime"]


def test_unknown_ids_and_bad_input(store):
    with pytest.raises(GraphError) as error:
        store.get_event("ada", "AAMkAGnope")
    assert (error.value.status, error.value.code) == (404, "ErrorItemNotFound")
    assert error.value.message == "The specified object was not found in the store."
    for bad in (
        {"subject": "no times"},
        event("2026-11-25T10:00:00", "2026-11-25T09:00:00"),
        event("2026-11-25T09:00:00", "2026-11-25T10:00:00", showAs="sleepy"),
        event("2026-11-25T09:00:00", "2026-11-25T10:00:00", tz="Mars/Olympus"),
        event("2026-11-25T09:00:00", "2026-11-25T10:00:00", isAllDay=True),
    ):
        with pytest.raises(GraphError) as error:
            store.create_event("ada", bad)
        assert error.value.status == 400


def test_changes_are_reported_outside_the_lock(store, changes):
    seen_from_other_thread = []

    def on_change(user_id, event_id, change):
        worker = threading.Thread(target=lambda: seen_from_other_thread.append(store.cursor))
        worker.start()
        worker.join(timeout=2)

    store._on_change = on_change
    store.create_event("ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00"))
    assert seen_from_other_thread == [1]


def test_concurrent_writers(store):
    def write(n):
        for i in range(20):
            store.create_event(
                "ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00", transactionId=f"{n}-{i}")
            )

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.calendar_view("ada", utc(2026, 11, 25), utc(2026, 11, 26))) == 160
    assert store.cursor == 160


# ----- Resource Booking Assistant -------------------------------------------------------


def test_room_accepts_after_the_delay_and_copies_the_meeting(store, clock, changes):
    created = store.create_event(
        "ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00", room=True)
    )
    assert store.run_due_rba() == 0
    assert room_view(store) == []
    clock.advance(2)
    assert store.run_due_rba() == 1
    organizer_copy = store.get_event("ada", created["id"])
    assert room_response(organizer_copy) == "accepted"
    attendee = organizer_copy["attendees"][0]
    assert attendee["status"]["time"].startswith("2026-11-01T08:00:02")
    assert attendee["emailAddress"]["name"] == "Room 1"
    [room_copy] = room_view(store)
    assert room_copy["iCalUId"] == created["iCalUId"]
    assert room_copy["id"] != created["id"]
    assert room_copy["subject"] == "Ada Lovelace"
    assert room_copy["body"]["content"] == ""
    assert room_copy["organizer"]["emailAddress"]["address"] == "ada@contoso.com"
    assert not room_copy["isOrganizer"]
    assert room_copy["responseStatus"]["response"] == "accepted"
    assert ("room", room_copy["id"], "created") in changes
    assert ("ada", created["id"], "updated") in changes


@pytest.mark.parametrize(
    ("delete_subject", "add_organizer", "subject"),
    [(True, True, "Ada Lovelace"), (True, False, ""), (False, False, "Planning")],
)
def test_room_copy_subject_follows_policy(store, clock, delete_subject, add_organizer, subject):
    store.set_room_policy(
        "room", RoomPolicy(delete_subject=delete_subject, add_organizer_to_subject=add_organizer)
    )
    book(store, clock)
    assert room_view(store)[0]["subject"] == subject


def test_room_declines_a_conflict(store, clock):
    book(store, clock, user="bob")
    declined = book(store, clock, start="2026-11-25T09:30:00", end="2026-11-25T10:30:00")
    assert room_response(declined) == "declined"
    assert [i["organizer"]["emailAddress"]["name"] for i in room_view(store)] == ["Bob Booker"]


def test_room_accepts_back_to_back_meetings(store, clock):
    book(store, clock, user="bob")
    assert (
        room_response(book(store, clock, start="2026-11-25T10:00:00", end="2026-11-25T11:00:00"))
        == "accepted"
    )
    assert (
        room_response(book(store, clock, start="2026-11-25T08:00:00", end="2026-11-25T09:00:00"))
        == "accepted"
    )


def test_room_allowing_conflicts_accepts_it(store, clock):
    store.set_room_policy("room", RoomPolicy(allow_conflicts=True))
    book(store, clock, user="bob")
    assert room_response(book(store, clock)) == "accepted"
    assert len(room_view(store)) == 2


def test_free_and_cancelled_room_items_do_not_conflict(store, clock):
    store.create_event("room", event("2026-11-25T09:00:00", "2026-11-25T10:00:00", showAs="free"))
    store.create_event(
        "room",
        event("2026-11-25T00:00:00", "2026-11-26T00:00:00", isAllDay=True, showAs="free"),
    )
    bobs = book(store, clock, user="bob")
    store.delete_event("bob", bobs["id"])
    clock.advance(2)
    store.run_due_rba()
    assert room_response(book(store, clock)) == "accepted"


def test_room_declines_outside_the_booking_window(store, clock):
    store.set_room_policy("room", RoomPolicy(booking_window_days=10))
    assert room_response(book(store, clock)) == "declined"
    assert room_view(store) == []
    assert (
        room_response(book(store, clock, start="2026-11-05T09:00:00", end="2026-11-05T10:00:00"))
        == "accepted"
    )


def test_room_declines_a_meeting_longer_than_allowed(store, clock):
    store.set_room_policy("room", RoomPolicy(max_duration_minutes=60))
    assert room_response(book(store, clock, end="2026-11-25T10:01:00")) == "declined"
    assert (
        room_response(book(store, clock, start="2026-11-26T09:00:00", end="2026-11-26T10:00:00"))
        == "accepted"
    )


def test_room_declines_a_series_when_one_occurrence_conflicts(store, clock):
    book(store, clock, user="bob", start="2026-11-18T09:30:00", end="2026-11-18T10:00:00")
    weekly = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["wednesday"]},
        "range": {"type": "endDate", "startDate": "2026-11-04", "endDate": "2027-02-24"},
    }
    series = book(
        store, clock, start="2026-11-04T09:00:00", end="2026-11-04T10:00:00", recurrence=weekly
    )
    assert room_response(series) == "declined"
    store.delete_event("ada", series["id"])
    weekly["range"] = {"type": "numbered", "startDate": "2026-11-25", "numberOfOccurrences": 4}
    accepted = book(
        store, clock, start="2026-11-25T09:00:00", end="2026-11-25T10:00:00", recurrence=weekly
    )
    assert room_response(accepted) == "accepted"
    view = store.calendar_view("room", utc(2026, 11, 20), utc(2026, 12, 31))
    assert [(i["type"], i["start"]["dateTime"][:10]) for i in view] == [
        ("occurrence", "2026-11-25"),
        ("occurrence", "2026-12-02"),
        ("occurrence", "2026-12-09"),
        ("occurrence", "2026-12-16"),
    ]


WEEKLY_NO_END: dict[str, dict[str, object]] = {
    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["wednesday"]},
    "range": {"type": "noEnd", "startDate": "2026-11-25"},
}


def test_room_declines_a_series_running_past_the_booking_window(store, clock):
    assert room_response(book(store, clock, recurrence=WEEKLY_NO_END)) == "declined"
    assert room_view(store) == []


def test_room_without_scheduling_horizon_cuts_the_series_at_the_window(store, clock):
    store.set_room_policy("room", RoomPolicy(enforce_scheduling_horizon=False))
    series = book(store, clock, recurrence=WEEKLY_NO_END)
    assert room_response(series) == "accepted"
    [room_copy] = [i for i in store.mailbox_events("room") if i["type"] == "seriesMaster"]
    assert room_copy["recurrence"]["range"]["type"] == "endDate"
    assert room_copy["recurrence"]["range"]["endDate"] == "2027-04-30"  # 180 days on
    assert store.get_event("ada", series["id"])["recurrence"]["range"]["type"] == "noEnd"


def test_room_refusing_recurring_meetings_declines_a_series(store, clock):
    store.set_room_policy("room", RoomPolicy(allow_recurring_meetings=False))
    bounded = {
        **WEEKLY_NO_END,
        "range": {**WEEKLY_NO_END["range"], "type": "numbered", "numberOfOccurrences": 2},
    }
    assert room_response(book(store, clock, recurrence=bounded)) == "declined"


def test_zero_maximum_duration_means_unlimited(store, clock):
    store.set_room_policy("room", RoomPolicy(max_duration_minutes=0))
    assert room_response(book(store, clock, end="2026-11-27T09:00:00")) == "accepted"


def test_auto_update_room_holds_the_meeting_tentatively_without_answering(store, clock):
    store.set_room_policy("room", RoomPolicy(auto_accept=False))
    assert room_response(book(store, clock)) == "none"
    [held] = room_view(store)
    assert held["showAs"] == "tentative"
    assert held["subject"] == "Planning"  # subject rewriting needs AutoAccept


def test_writing_to_the_room_calendar_bypasses_the_assistant(store, clock):
    book(store, clock, user="bob")
    direct = store.create_event("room", event("2026-11-25T09:00:00", "2026-11-25T10:00:00"))
    assert store.pending_rba() == 0
    assert direct["isOrganizer"]
    assert direct["organizer"]["emailAddress"]["address"] == "room@contoso.com"
    assert len(room_view(store)) == 2


def test_cancelled_meeting_stays_in_the_room_as_free(store, clock, changes):
    booked = book(store, clock)
    store.cancel_event("ada", booked["id"], "Sorry")
    with pytest.raises(GraphError):
        store.get_event("ada", booked["id"])
    clock.advance(2)
    store.run_due_rba()
    [cancelled] = room_view(store)
    assert cancelled["isCancelled"] and cancelled["showAs"] == "free"
    assert cancelled["subject"] == "Canceled: Ada Lovelace"
    assert ("room", cancelled["id"], "updated") in changes


def test_room_removing_cancelled_meetings_deletes_them(store, clock, changes):
    store.set_room_policy("room", RoomPolicy(remove_canceled_meetings=True))
    booked = book(store, clock)
    room_id = room_view(store)[0]["id"]
    store.delete_event("ada", booked["id"])
    clock.advance(2)
    store.run_due_rba()
    assert room_view(store) == []
    assert ("room", room_id, "deleted") in changes


def test_only_the_organizer_can_cancel(store, clock):
    book(store, clock)
    [room_copy] = room_view(store)
    with pytest.raises(GraphError) as error:
        store.cancel_event("room", room_copy["id"], None)
    assert error.value.status == 400
    assert "You need to be an organizer to cancel a meeting." in error.value.message


def test_moving_a_meeting_is_processed_again(store, clock):
    book(store, clock, user="bob", start="2026-11-25T11:00:00", end="2026-11-25T12:00:00")
    booked = book(store, clock)
    moved = store.update_event(
        "ada",
        booked["id"],
        {
            "start": {"dateTime": "2026-11-25T11:30:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-25T12:30:00", "timeZone": "UTC"},
        },
    )
    assert room_response(moved) == "none"
    clock.advance(2)
    store.run_due_rba()
    assert room_response(store.get_event("ada", booked["id"])) == "declined"
    assert [i["organizer"]["emailAddress"]["name"] for i in room_view(store)] == ["Bob Booker"]
    store.update_event(
        "ada",
        booked["id"],
        {
            "start": {"dateTime": "2026-11-25T13:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-25T14:00:00", "timeZone": "UTC"},
        },
    )
    clock.advance(2)
    store.run_due_rba()
    assert room_response(store.get_event("ada", booked["id"])) == "accepted"
    assert [i["start"]["dateTime"][11:16] for i in room_view(store)] == ["11:00", "13:00"]


def test_private_flag_is_kept_by_the_organizer_and_cleared_in_the_room_by_default(store, clock):
    booked = book(store, clock, sensitivity="private")
    assert booked["sensitivity"] == "private"
    assert room_view(store)[0]["sensitivity"] == "normal"
    store.set_room_policy("room", RoomPolicy(remove_private_property=False))
    book(
        store, clock, start="2026-11-25T12:00:00", end="2026-11-25T13:00:00", sensitivity="private"
    )
    assert [i["sensitivity"] for i in room_view(store)] == ["normal", "private"]


def test_removing_the_room_from_the_attendees_cancels_its_copy(store, clock):
    booked = book(store, clock)
    store.update_event("ada", booked["id"], {"attendees": []})
    clock.advance(2)
    store.run_due_rba()
    assert [i["isCancelled"] for i in room_view(store)] == [True]


# ----- delta ----------------------------------------------------------------------------

WINDOW = (utc(2026, 11, 1), utc(2026, 12, 1))


def delta(store, since, user="ada"):
    items, cursor = store.delta_changes(user, *WINDOW, since)
    return items, cursor


def test_delta_initial_sync_is_the_calendar_view(store):
    store.create_event("ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00"))
    store.create_event("ada", event("2026-12-25T09:00:00", "2026-12-25T10:00:00"))
    items, cursor = delta(store, None)
    assert [i["id"] for i in items] == [i["id"] for i in store.calendar_view("ada", *WINDOW)]
    assert len(items) == 1 and cursor == store.cursor
    assert delta(store, cursor) == ([], cursor)


def test_delta_reports_changes_and_replays_idempotently(store):
    first = store.create_event("ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00"))
    _, cursor = delta(store, None)
    store.update_event("ada", first["id"], {"subject": "Renamed"})
    second = store.create_event("ada", event("2026-11-26T09:00:00", "2026-11-26T10:00:00"))
    items, new_cursor = delta(store, cursor)
    assert {(i["id"], i["subject"]) for i in items} == {
        (first["id"], "Renamed"),
        (second["id"], "Planning"),
    }
    assert delta(store, cursor)[0] == items
    assert delta(store, new_cursor)[0] == []


def test_delta_series_update_yields_every_instance_and_delete_removes_them(store):
    series = store.create_event(
        "ada",
        event(
            "2026-11-02T09:00:00",
            "2026-11-02T10:00:00",
            recurrence={
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {"type": "noEnd", "startDate": "2026-11-02"},
            },
        ),
    )
    initial, cursor = delta(store, None)
    assert len(initial) == 5 and {i["type"] for i in initial} == {"occurrence"}
    store.update_event("ada", series["id"], {"subject": "Weekly"})
    changed, cursor = delta(store, cursor)
    assert sorted(i["id"] for i in changed) == sorted(i["id"] for i in initial)
    assert {i["subject"] for i in changed} == {"Weekly"}
    store.delete_event("ada", series["id"])
    removed, _ = delta(store, cursor)
    assert sorted(i["id"] for i in removed) == sorted(i["id"] for i in initial)
    assert all(i["@removed"] == {"reason": "deleted"} for i in removed)


def test_delta_reports_an_occurrence_deleted(store):
    store.create_event(
        "ada",
        event(
            "2026-11-02T09:00:00",
            "2026-11-02T10:00:00",
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-11-02", "numberOfOccurrences": 3},
            },
        ),
    )
    initial, cursor = delta(store, None)
    store.delete_event("ada", initial[1]["id"])
    items, _ = delta(store, cursor)
    removed = [i["id"] for i in items if "@removed" in i]
    assert removed == [initial[1]["id"]]
    assert sorted(i["id"] for i in items if "@removed" not in i) == sorted(
        [initial[0]["id"], initial[2]["id"]]
    )


def test_delta_reports_a_meeting_moved_out_of_the_window_as_removed(store):
    created = store.create_event("ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00"))
    _, cursor = delta(store, None)
    store.update_event(
        "ada",
        created["id"],
        {
            "start": {"dateTime": "2026-12-25T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-25T10:00:00", "timeZone": "UTC"},
        },
    )
    items, cursor = delta(store, cursor)
    assert items == [
        {
            "@odata.type": "#microsoft.graph.event",
            "id": created["id"],
            "@removed": {"reason": "deleted"},
        }
    ]
    store.update_event(
        "ada",
        created["id"],
        {
            "start": {"dateTime": "2026-11-20T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-20T10:00:00", "timeZone": "UTC"},
        },
    )
    items, _ = delta(store, cursor)
    assert [(i["id"], i["start"]["dateTime"][:10]) for i in items] == [
        (created["id"], "2026-11-20")
    ]


def test_delta_of_the_room_follows_the_assistant(store, clock):
    _, cursor = delta(store, None, user="room")
    booked = book(store, clock)
    items, cursor = delta(store, cursor, user="room")
    assert [i["subject"] for i in items] == ["Ada Lovelace"]
    store.delete_event("ada", booked["id"])
    clock.advance(2)
    store.run_due_rba()
    items, _ = delta(store, cursor, user="room")
    assert [(i["id"], i["isCancelled"]) for i in items] == [(items[0]["id"], True)]


# ----- render ---------------------------------------------------------------------------


def test_render_in_a_zone_with_etag(store):
    created = store.create_event(
        "ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00", tz="Europe/London")
    )
    shaped = render_event(created, timezone="Pacific Standard Time")
    assert shaped["start"] == {
        "dateTime": "2026-11-25T01:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }
    assert shaped["@odata.etag"] == f'W/"{created["changeKey"]}"'
    assert shaped["originalStartTimeZone"] == "Europe/London"
    assert shaped["bodyPreview"] == "Agenda"
    assert shaped["responseStatus"]["response"] == "organizer"
    assert shaped["createdDateTime"].endswith("Z") and len(shaped["createdDateTime"]) == 28
    assert not any(key.startswith("_") for key in shaped)
    json.dumps(shaped)


def test_render_with_select(store):
    created = store.create_event("ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00"))
    shaped = render_event(created, select=["subject", "start", "showAs"])
    assert set(shaped) == {"@odata.etag", "id", "subject", "start", "showAs"}


def test_render_all_day_events_float(store):
    created = store.create_event(
        "ada",
        event("2026-11-25T00:00:00", "2026-11-26T00:00:00", tz="Europe/Berlin", isAllDay=True),
    )
    shaped = render_event(created, timezone="America/New_York")
    assert shaped["start"]["dateTime"] == "2026-11-25T00:00:00.0000000"
    assert shaped["end"]["dateTime"] == "2026-11-26T00:00:00.0000000"
    assert shaped["isAllDay"]


# ----- persistence ----------------------------------------------------------------------


def test_json_round_trip_keeps_calendars_pending_work_and_delta(store, clock):
    book(store, clock)
    store.create_event(
        "ada",
        event(
            "2026-11-02T09:00:00",
            "2026-11-02T10:00:00",
            transactionId="tx-series",
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-11-02", "numberOfOccurrences": 3},
            },
        ),
    )
    pending = store.create_event(
        "bob", event("2026-11-27T09:00:00", "2026-11-27T10:00:00", room=True)
    )
    _, cursor = delta(store, None)
    saved = json.loads(json.dumps(store.to_json()))
    restored = CalendarStore.from_json(saved, clock=clock)
    for user in ("ada", "bob", "room"):
        assert restored.calendar_view(user, *WINDOW) == store.calendar_view(user, *WINDOW)
    assert restored.cursor == store.cursor
    again = restored.create_event(
        "ada", event("2026-11-02T09:00:00", "2026-11-02T10:00:00", transactionId="tx-series")
    )
    assert again["type"] == "seriesMaster"
    clock.advance(2)
    assert restored.run_due_rba() == 1
    assert room_response(restored.get_event("bob", pending["id"])) == "accepted"
    items, _ = restored.delta_changes("ada", *WINDOW, cursor)
    assert items == []


def test_seeded_room_booking_keeps_its_organizer_and_blocks_the_room(store, clock):
    seeded = store.seed_event(
        "room",
        event(
            "2026-11-25T09:00:00",
            "2026-11-25T10:00:00",
            organizer={"emailAddress": {"address": "bob@contoso.com", "name": "Bob Booker"}},
        ),
    )
    assert not seeded["isOrganizer"]
    assert seeded["organizer"]["emailAddress"]["address"] == "bob@contoso.com"
    assert seeded["responseStatus"]["response"] == "accepted"
    assert room_response(book(store, clock)) == "declined"


def test_list_events_leaves_out_instances(store):
    series = store.create_event(
        "ada",
        event(
            "2026-11-02T09:00:00",
            "2026-11-02T10:00:00",
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-11-02", "numberOfOccurrences": 3},
            },
        ),
    )
    first = store.calendar_view("ada", *WINDOW)[0]
    store.update_event("ada", first["id"], {"subject": "Exception"})
    single = store.create_event("ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00"))
    assert [i["id"] for i in store.list_events("ada")] == [series["id"], single["id"]]
    assert len(store.mailbox_events("ada")) == 3


def test_a_rejected_patch_changes_nothing(store):
    created = store.create_event("ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00"))
    with pytest.raises(GraphError):
        store.update_event("ada", created["id"], {"subject": "New", "showAs": "sleepy"})
    assert store.get_event("ada", created["id"]) == created
    series = store.create_event(
        "ada",
        event(
            "2026-11-02T09:00:00",
            "2026-11-02T10:00:00",
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-11-02", "numberOfOccurrences": 2},
            },
        ),
    )
    occurrence = store.calendar_view("ada", utc(2026, 11, 2), utc(2026, 11, 3))[0]
    with pytest.raises(GraphError):
        store.update_event("ada", occurrence["id"], {"end": {"dateTime": "2026-11-01T00:00:00"}})
    assert len(store.mailbox_events("ada")) == 2
    assert store.get_event("ada", series["id"]) == series


def test_delta_cursor_older_than_the_kept_history_answers_410(store, monkeypatch):
    monkeypatch.setattr("m365_emulator.calendar.store.HISTORY_LIMIT", 2)
    monkeypatch.setattr("m365_emulator.calendar.store.HISTORY_TRIM", 1)
    created = store.create_event("ada", event("2026-11-25T09:00:00", "2026-11-25T10:00:00"))
    _, cursor = delta(store, None)
    for n in range(4):
        store.update_event("ada", created["id"], {"subject": f"v{n}"})
    with pytest.raises(GraphError) as error:
        delta(store, cursor)
    assert error.value.status == 410
    assert delta(store, store.cursor - 1)[0][0]["subject"] == "v3"


def test_room_copy_of_a_series_follows_exceptions_and_cancelled_occurrences(store, clock):
    daily = {
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "numbered", "startDate": "2026-11-23", "numberOfOccurrences": 3},
    }
    series = book(
        store, clock, start="2026-11-23T09:00:00", end="2026-11-23T10:00:00", recurrence=daily
    )
    assert room_response(series) == "accepted"
    first, second, _ = store.calendar_view("ada", utc(2026, 11, 23), utc(2026, 11, 26))
    store.update_event(
        "ada",
        first["id"],
        {
            "start": {"dateTime": "2026-11-23T14:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-23T15:00:00", "timeZone": "UTC"},
        },
    )
    store.cancel_event("ada", second["id"], "Not that day")
    clock.advance(2)
    store.run_due_rba()
    room = store.calendar_view("room", utc(2026, 11, 23), utc(2026, 11, 26))
    assert [(i["type"], i["start"]["dateTime"][:16]) for i in room] == [
        ("exception", "2026-11-23T14:00"),
        ("occurrence", "2026-11-25T09:00"),
    ]
    assert room_response(store.get_event("ada", series["id"])) == "accepted"


def test_an_organizer_cannot_answer_for_the_room(store, clock):
    payload = event("2026-11-25T09:00:00", "2026-11-25T10:00:00", room=True)
    payload["attendees"][0]["status"] = {"response": "accepted", "time": "2026-11-01T08:00:00Z"}
    created = store.create_event("ada", payload)
    assert room_response(created) == "none"
