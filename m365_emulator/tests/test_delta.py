"""calendarView/delta over HTTP: pages, deltaLink, add/change/delete, replay, 410 reset."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

WINDOW = {"startDateTime": "2027-05-01T00:00:00Z", "endDateTime": "2027-05-08T00:00:00Z"}


def create(graph, room, subject, day):
    answer = graph.post(f"/users/{room}/events", json={
        "subject": subject, "start": {"dateTime": f"2027-05-0{day}T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"2027-05-0{day}T10:00:00", "timeZone": "UTC"}})
    assert answer.status_code == 201
    return answer.json()


def round_of(graph, url, params=None, page_size=2):
    """Follow nextLinks to the deltaLink; returns (items, pages, deltaLink)."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"}
    items, pages = [], 0
    answer = graph.get(url, params=params, headers=headers)
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["value"]
        pages += 1
        if "@odata.deltaLink" in body:
            return items, pages, body["@odata.deltaLink"]
        assert "$skiptoken=" in body["@odata.nextLink"]
        answer = graph.get(body["@odata.nextLink"], headers=headers)


def synced_room(graph, n):
    """A room with five events and a finished first round: (room, items, deltaLink)."""
    room = f"gen-room-{n:03d}@contoso.onmicrosoft.com"
    for day in (1, 2, 3, 4, 5):
        create(graph, room, f"day {day}", day)
    items, _, delta_link = round_of(graph, f"/users/{room}/calendarView/delta", WINDOW)
    return room, items, delta_link


def test_first_round_pages_by_maxpagesize_and_ends_with_a_delta_link(graph):
    _, items, delta_link = synced_room(graph, 20)
    assert len(items) == 5
    token = parse_qs(urlsplit(delta_link).query)["$deltatoken"][0]
    assert token and "startDateTime" not in delta_link  # the window travels in the token
    nothing, pages, _ = round_of(graph, delta_link)
    assert (nothing, pages) == ([], 1)


def test_next_round_reports_added_changed_and_removed_events(graph):
    room, items, delta_link = synced_room(graph, 21)
    added = create(graph, room, "added", 6)
    assert graph.patch(f"/users/{room}/events/{items[0]['id']}",
                       json={"subject": "changed"}).status_code == 200
    assert graph.delete(f"/users/{room}/events/{items[1]['id']}").status_code == 204
    changes, _, _ = round_of(graph, delta_link)
    by_id = {c["id"]: c for c in changes}
    assert by_id[added["id"]]["subject"] == "added"
    assert by_id[items[0]["id"]]["subject"] == "changed"
    assert by_id[items[1]["id"]]["@removed"] == {"reason": "deleted"}
    replay, _, _ = round_of(graph, delta_link)  # reusing an old deltaLink replays changes
    assert {c["id"] for c in replay} == set(by_id)


def test_invalidated_token_is_410_with_a_location_to_restart(graph, control):
    room, items, delta_link = synced_room(graph, 22)
    assert control.post("/delta/invalidate", json={"mailbox": room}).status_code == 204
    gone = graph.get(delta_link)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    restart = gone.headers["Location"]
    assert "startDateTime=2027-05-01" in restart
    fresh, _, _ = round_of(graph, restart, page_size=10)
    assert {i["id"] for i in fresh} == {i["id"] for i in items}


def test_unknown_skiptoken_is_410(graph):
    answer = graph.get("/users/gen-room-023@contoso.onmicrosoft.com/calendarView/delta",
                       params={"$skiptoken": "bogus"})
    assert answer.status_code == 410


def test_delta_needs_a_window(graph):
    answer = graph.get("/users/gen-room-023@contoso.onmicrosoft.com/calendarView/delta")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ErrorInvalidParameter"
