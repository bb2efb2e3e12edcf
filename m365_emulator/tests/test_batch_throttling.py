"""$batch, Outlook's per-mailbox throttling and injected faults, over HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import httpx

from m365_emulator.server import start_emulator
from m365_emulator.testing import TEST_OPTIONS, wait_until

from .conftest import ca_context, graph_client, token_for

ROOM = "gen-room-040@contoso.onmicrosoft.com"
DAY = (date.today() + timedelta(days=15)).isoformat()  # inside every booking window
WINDOW = "startDateTime=2027-07-01T00:00:00Z&endDateTime=2027-07-02T00:00:00Z"


def test_batch_runs_requests_and_answers_each(graph):
    body = {"requests": [
        {"id": "1", "method": "GET", "url": f"/users/{ROOM}/calendarView?{WINDOW}"},
        {"id": "2", "method": "GET", "url": "/places/microsoft.graph.roomlist"},
        {"id": "3", "method": "GET", "url": "/users/ghost@contoso.onmicrosoft.com"},
    ]}
    answer = graph.post("/$batch", json=body)
    assert answer.status_code == 200
    by_id = {r["id"]: r for r in answer.json()["responses"]}
    assert by_id["1"]["status"] == 200 and by_id["1"]["body"]["value"] == []
    assert len(by_id["2"]["body"]["value"]) == 2
    assert by_id["3"]["status"] == 404


def test_depends_on_runs_in_order_and_failed_dependency_is_424(graph):
    event = {"subject": "Batched", "start": {"dateTime": "2027-07-01T09:00:00", "timeZone": "UTC"},
             "end": {"dateTime": "2027-07-01T10:00:00", "timeZone": "UTC"}}
    body = {"requests": [
        {"id": "a", "method": "POST", "url": f"/users/{ROOM}/events", "body": event,
         "headers": {"Content-Type": "application/json"}},
        {"id": "b", "method": "GET", "url": f"/users/{ROOM}/calendarView?{WINDOW}",
         "dependsOn": ["a"]},
        {"id": "c", "method": "GET", "url": "/users/ghost@contoso.onmicrosoft.com",
         "dependsOn": ["b"]},
        {"id": "d", "method": "GET", "url": "/places/microsoft.graph.roomlist",
         "dependsOn": ["c"]},
    ]}
    by_id = {r["id"]: r for r in graph.post("/$batch", json=body).json()["responses"]}
    assert by_id["a"]["status"] == 201
    assert [e["subject"] for e in by_id["b"]["body"]["value"]] == ["Batched"]
    assert by_id["c"]["status"] == 404
    assert by_id["d"]["status"] == 424


def test_more_than_20_requests_is_400(graph):
    body = {"requests": [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]}
    answer = graph.post("/$batch", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"


def test_inner_request_is_throttled_on_its_own(graph, control):
    control.post("/faults", json={"kind": "429", "path_contains": "/calendarView",
                                  "retry_after": 7, "count": 1})
    body = {"requests": [
        {"id": "1", "method": "GET", "url": f"/users/{ROOM}/calendarView?{WINDOW}"},
        {"id": "2", "method": "GET", "url": "/places/microsoft.graph.roomlist"},
    ]}
    by_id = {r["id"]: r for r in graph.post("/$batch", json=body).json()["responses"]}
    assert by_id["1"]["status"] == 429
    assert by_id["1"]["headers"]["Retry-After"] == "7"
    assert by_id["1"]["body"]["error"]["code"] == "TooManyRequests"
    assert by_id["2"]["status"] == 200


def test_five_concurrent_requests_to_one_mailbox_get_a_429(graph, control):
    control.post("/reset")
    control.post("/faults", json={"kind": "slow", "delay_ms": 400, "path_contains": ROOM})
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(
            lambda _: graph.get(f"/users/{ROOM}/calendarView?{WINDOW}"), range(5)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 4 and statuses.count(429) == 1
    throttled = next(a for a in answers if a.status_code == 429)
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"]["code"] == "ApplicationThrottled"
    counters = control.get("/counters").json()
    assert counters["max_concurrency_per_mailbox"][ROOM] == 4
    assert counters["throttled_429"] >= 1
    # What the client asked for: five at once, one over the limit.
    assert counters["max_requested_concurrency_per_mailbox"][ROOM] == 5
    assert counters["over_limit_per_mailbox"] == {ROOM: 1}


def test_a_client_within_the_limit_leaves_no_over_limit_request_counted(graph, control):
    control.post("/reset")
    control.post("/faults", json={"kind": "slow", "delay_ms": 200, "path_contains": ROOM})
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(
            lambda _: graph.get(f"/users/{ROOM}/calendarView?{WINDOW}"), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    counters = control.get("/counters").json()
    assert counters["max_requested_concurrency_per_mailbox"][ROOM] == 4
    assert counters["over_limit_per_mailbox"] == {}


def test_injected_503_for_a_share_and_a_count(graph, control):
    control.post("/faults", json={"kind": "503", "count": 2, "path_contains": "/places"})
    statuses = [graph.get("/places/microsoft.graph.roomlist").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_service_down_takes_identity_and_graph_down(graph, control, config):
    control.post("/faults", json={"kind": "down", "duration_seconds": 0.5, "retry_after": 3})
    assert graph.get("/users").status_code == 503
    discovery = httpx.get(f"{config['authority']}/v2.0/.well-known/openid-configuration",
                          verify=ca_context(config))
    assert discovery.status_code == 503
    assert discovery.headers["Retry-After"] == "3"
    control.delete("/faults")
    assert graph.get("/users").status_code == 200


def test_counters_count_requests_per_endpoint_and_mailbox(graph, control):
    control.post("/reset")
    graph.get(f"/users/{ROOM}/calendarView?{WINDOW}")
    graph.get("/places/microsoft.graph.room")
    counters = control.get("/counters").json()
    assert counters["requests_per_mailbox"][ROOM] == 1
    assert counters["requests_per_endpoint"]["GET /users/{user}/calendarView"] == 1
    assert counters["requests_per_endpoint"]["GET /places/microsoft.graph.room"] == 1


def test_control_api_books_as_outlook_would(graph, control):
    booked = control.post("/outlook/book", json={
        "organizer": "chloe@contoso.onmicrosoft.com", "room": ROOM, "subject": "From Outlook",
        "start": f"{DAY}T13:00:00", "end": f"{DAY}T14:00:00"})
    assert booked.status_code == 201
    def room_has_it():
        return graph.get(f"/users/{ROOM}/calendarView", params={
            "startDateTime": f"{DAY}T00:00:00Z",
            "endDateTime": f"{DAY}T23:59:00Z"}).json()["value"]

    items = wait_until(room_has_it)
    assert items[0]["organizer"]["emailAddress"]["address"] == "chloe@contoso.onmicrosoft.com"


def test_mailbox_rate_limit_answers_429_with_retry_after(tmp_path, fixture_file):
    handle = start_emulator(fixture=fixture_file, port=0, state_dir=tmp_path, rate_limit=3,
                            rate_window_seconds=60, **TEST_OPTIONS)
    try:
        config = handle.config()
        with graph_client(config, token_for(config, "openrooms")) as client:
            statuses = [client.get(f"/users/{ROOM}/calendarView?{WINDOW}") for _ in range(4)]
            other_mailbox = client.get(f"/users/gen-room-041@contoso.onmicrosoft.com/"
                                       f"calendarView?{WINDOW}")
        assert [a.status_code for a in statuses] == [200, 200, 200, 429]
        assert 1 <= int(statuses[3].headers["Retry-After"]) <= 61
        assert other_mailbox.status_code == 200  # the limit is per app and mailbox
    finally:
        handle.stop()


def test_me_is_refused_for_app_only_tokens(graph):
    answer = graph.get("/me/events")
    assert answer.status_code == 400
    assert "delegated authentication flow" in answer.json()["error"]["message"]


def test_serves_many_concurrent_requests(graph):
    rooms = [f"gen-room-{n:03d}@contoso.onmicrosoft.com" for n in range(60, 100)]
    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(lambda r: graph.get(f"/users/{r}/calendarView?{WINDOW}"), rooms))
    assert [a.status_code for a in answers] == [200] * 40


def test_latency_option_delays_graph_answers(tmp_path, fixture_file):
    handle = start_emulator(fixture=fixture_file, port=0, state_dir=tmp_path, latency_ms=300,
                            **TEST_OPTIONS)
    try:
        config = handle.config()
        with graph_client(config, token_for(config, "openrooms")) as client:
            client.get("/places/microsoft.graph.roomlist")  # warm the connection
            answer = client.get("/places/microsoft.graph.roomlist")
        assert answer.elapsed.total_seconds() >= 0.3
    finally:
        handle.stop()
