"""--latency-ms is what a client waits: nothing more hides in how answers are written."""

from __future__ import annotations

import statistics
import time

from m365_emulator.server import start_emulator

from .conftest import graph_client, token_for

ROOM = "gen-room-001@contoso.onmicrosoft.com"
WINDOW = "startDateTime=2027-07-01T00:00:00Z&endDateTime=2027-07-02T00:00:00Z"


def test_an_answer_takes_the_configured_latency_not_a_delayed_ack_more(fixture_file, tmp_path):
    handle = start_emulator(fixture=fixture_file, port=0, state_dir=tmp_path, latency_ms=100)
    try:
        config = handle.config()
        with graph_client(config, token_for(config, "openrooms")) as graph:
            graph.get(f"/users/{ROOM}/calendarView?{WINDOW}")  # the connection is open now
            timings = []
            for _ in range(7):
                started = time.perf_counter()
                assert graph.get(f"/users/{ROOM}/calendarView?{WINDOW}").status_code == 200
                timings.append((time.perf_counter() - started) * 1000)
    finally:
        handle.stop()
    # Headers and body were two TCP segments and the body waited for the client's delayed
    # ACK: 100 ms became ~140 ms.
    assert 100 <= statistics.median(timings) < 130
