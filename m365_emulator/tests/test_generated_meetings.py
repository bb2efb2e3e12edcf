"""`generate_meetings`: a busy tenant's room calendars made up from a fixture line.

They are served by the same Graph endpoints as any other meeting (over HTTPS, in an emulator of
its own)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from m365_emulator.fixture import DEFAULT_FIXTURE, generated_meetings, parse_fixture
from m365_emulator.server import EmulatorHandle, start_emulator
from m365_emulator.testing import TEST_OPTIONS

from .conftest import ca_context, token_for

PLAN = {"days_back": 7, "days_ahead": 14, "per_day": 6, "seed": 3}
LONDON = ZoneInfo("Europe/London")


def tenant_data(rooms: int = 3) -> dict[str, Any]:
    data = json.loads(DEFAULT_FIXTURE.read_text())
    data["generate_rooms"] = rooms
    data["generate_meetings"] = PLAN
    return data


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    folder = tmp_path_factory.mktemp("busy")
    fixture = folder / "tenant.json"
    fixture.write_text(json.dumps(tenant_data()))
    handle = start_emulator(fixture=fixture, port=0, state_dir=folder, **TEST_OPTIONS)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def graph(busy: EmulatorHandle) -> Iterator[httpx.Client]:
    config = busy.config()
    with httpx.Client(base_url=config["graph_url"], verify=ca_context(config), timeout=20,
                      headers={"Authorization": f"Bearer {token_for(config, 'openrooms')}",
                               "Prefer": 'outlook.timezone="UTC"'}) as client:
        yield client


def window(today: date) -> dict[str, str]:
    start = datetime.combine(today - timedelta(days=8), datetime.min.time(), UTC)
    return {"startDateTime": start.isoformat(),
            "endDateTime": (start + timedelta(days=24)).isoformat()}


def local(value: dict[str, str]) -> datetime:
    return datetime.fromisoformat(value["dateTime"][:19]).replace(tzinfo=UTC).astimezone(LONDON)


def test_the_same_fixture_makes_the_same_meetings():
    first = [(m.email, p) for m, p in generated_meetings(parse_fixture(tenant_data()))]
    again = [(m.email, p) for m, p in generated_meetings(parse_fixture(tenant_data()))]
    assert first == again
    assert {email for email, _ in first} == {f"gen-room-00{n}@contoso.onmicrosoft.com"
                                              for n in (1, 2, 3)}


def test_only_generated_rooms_get_meetings_unless_all_are_asked_for():
    data = tenant_data(rooms=1)
    rooms = {m.email for m, _ in generated_meetings(parse_fixture(data))}
    assert rooms == {"gen-room-001@contoso.onmicrosoft.com"}
    data["generate_meetings"] = {**PLAN, "rooms": "all"}
    every_room = {m.email for m, _ in generated_meetings(parse_fixture(data))}
    assert "paris-seine@contoso.onmicrosoft.com" in every_room
    assert "legacy-boardroom@contoso.onmicrosoft.com" not in every_room  # on-premises


def test_an_unknown_key_is_refused():
    data = tenant_data()
    data["generate_meetings"] = {**PLAN, "per_week": 3}
    with pytest.raises(ValueError, match="per_week"):
        parse_fixture(data)


def test_a_rooms_calendar_holds_working_day_meetings_that_never_overlap(busy, graph):
    room = "gen-room-002@contoso.onmicrosoft.com"
    today = busy.emulator.tenant.today
    params: dict[str, str] | None
    events, url, params = [], f"users/{room}/calendarView", {**window(today), "$top": "500"}
    while url:
        page = graph.get(url, params=params).json()
        events += page["value"]
        url, params = page.get("@odata.nextLink"), None
    by_day: dict[date, list[tuple[datetime, datetime]]] = defaultdict(list)
    for event in events:
        start, end = local(event["start"]), local(event["end"])
        assert start.weekday() < 5 and start.date() == end.date()
        assert start.hour >= 8 and (end.hour, end.minute) <= (18, 0)
        assert end - start in {timedelta(minutes=m) for m in (30, 60, 90)}
        by_day[start.date()].append((start, end))
    first, last = today - timedelta(days=PLAN["days_back"]), today + timedelta(
        days=PLAN["days_ahead"] - 1)
    working = [first + timedelta(days=n) for n in range((last - first).days + 1)
               if (first + timedelta(days=n)).weekday() < 5]
    assert sorted(by_day) == working
    for meetings in by_day.values():
        meetings.sort()
        assert all(a[1] <= b[0] for a, b in pairwise(meetings))
    average = len(events) / len(working)
    assert PLAN["per_day"] - 1 <= average <= PLAN["per_day"] + 0.5

    kinds = Counter(e["type"] for e in events)
    assert kinds["occurrence"] >= len(working) // 5  # weekly series, expanded
    assert set(kinds) <= {"singleInstance", "occurrence"}


def test_generated_meetings_look_like_what_a_booking_assistant_leaves(busy, graph):
    today = busy.emulator.tenant.today
    events = []
    for n in (1, 2, 3):
        room = f"gen-room-00{n}@contoso.onmicrosoft.com"
        events += graph.get(f"users/{room}/calendarView",
                            params={**window(today), "$top": "500"}).json()["value"]
    accepted = [e for e in events if not e["isOrganizer"]]
    direct = [e for e in events if e["isOrganizer"]]
    assert accepted and direct
    for event in accepted:
        # AddOrganizerToSubject, RemovePrivateProperty: the room's defaults.
        organizer = event["organizer"]["emailAddress"]["name"]
        assert event["subject"] in {organizer, f"Canceled: {organizer}"}
        assert event["sensitivity"] == "normal"
        assert event["responseStatus"]["response"] == "accepted"
        room_entries = [a for a in event["attendees"] if a["type"] == "resource"]
        assert [a["status"]["response"] for a in room_entries] == ["accepted"]
    assert any(e["sensitivity"] == "private" for e in direct)
    cancelled = [e for e in events if e["isCancelled"]]
    assert cancelled and all(e["showAs"] == "free" and e["subject"].startswith("Canceled: ")
                             for e in cancelled)


def test_a_full_delta_sync_is_one_page_with_a_large_enough_page_size(busy, graph):
    room = "gen-room-003@contoso.onmicrosoft.com"
    params = window(busy.emulator.tenant.today)
    view = graph.get(f"users/{room}/calendarView", params={**params, "$top": "999"}).json()
    response = graph.get(f"users/{room}/calendarView/delta", params=params,
                         headers={"Prefer": 'outlook.timezone="UTC", odata.maxpagesize=1000'})
    body = response.json()
    assert "@odata.deltaLink" in body and "@odata.nextLink" not in body
    assert sorted(e["id"] for e in body["value"]) == sorted(e["id"] for e in view["value"])
    # The page was encoded in parts: it must still be exactly what json.dumps makes.
    assert response.content == json.dumps(body).encode()

    small = graph.get(f"users/{room}/calendarView/delta", params=params,
                      headers={"Prefer": 'outlook.timezone="UTC", odata.maxpagesize=50'})
    seen, page = [], small.json()
    while True:
        seen += [e["id"] for e in page["value"]]
        assert len(page["value"]) <= 50
        if "@odata.deltaLink" in page:
            break
        page = graph.get(page["@odata.nextLink"],
                         headers={"Prefer": 'outlook.timezone="UTC", odata.maxpagesize=50'}).json()
    assert sorted(seen) == sorted(e["id"] for e in body["value"])


def test_a_generated_meeting_is_an_ordinary_event(busy, graph):
    """Moved like any meeting: delta reports the change."""
    room = "gen-room-001@contoso.onmicrosoft.com"
    params = window(busy.emulator.tenant.today)
    headers = {"Prefer": 'outlook.timezone="UTC", odata.maxpagesize=1000'}
    first = graph.get(f"users/{room}/calendarView/delta", params=params, headers=headers).json()
    single = next(e for e in first["value"] if e["type"] == "singleInstance" and e["isOrganizer"])
    graph.patch(f"users/{room}/events/{single['id']}", json={"subject": "Moved on"})
    changes = graph.get(first["@odata.deltaLink"], headers=headers).json()
    assert [e["id"] for e in changes["value"]] == [single["id"]]
    assert changes["value"][0]["subject"] == "Moved on"



def test_a_page_holds_at_most_the_outlook_cap_whatever_is_asked(busy, graph, monkeypatch):
    """Outlook caps a page (1000 items); a smaller cap here shows asking for more is not
    granted, and the round goes on through nextLinks."""
    monkeypatch.setattr(busy.emulator.graph.options, "max_page_size", 40)
    room = "gen-room-002@contoso.onmicrosoft.com"
    params = window(busy.emulator.tenant.today)
    headers = {"Prefer": 'outlook.timezone="UTC", odata.maxpagesize=1000'}
    page = graph.get(f"users/{room}/calendarView/delta", params=params, headers=headers).json()
    assert len(page["value"]) == 40 and "@odata.nextLink" in page
    view = graph.get(f"users/{room}/calendarView", params={**params, "$top": "999"}).json()
    assert len(view["value"]) == 40 and "@odata.nextLink" in view
