"""The command line, --state-file across a restart, and the /_emulator/ web page."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import httpx

from m365_emulator.server import start_emulator
from m365_emulator.testing import TEST_OPTIONS, wait_until

from .conftest import ca_context, graph_client, token_for

ROOM = "gen-room-050@contoso.onmicrosoft.com"


def test_print_config_gives_what_settings_need(tmp_path):
    output = subprocess.run(
        [sys.executable, "-m", "m365_emulator", "--print-config", "--port", "9999",
         "--state-dir", str(tmp_path)], capture_output=True, text=True, check=True).stdout
    config = json.loads(output)
    assert config["authority"] == f"https://127.0.0.1:9999/{config['tenant_id']}"
    assert config["graph_url"] == "https://127.0.0.1:9999/v1.0"
    assert (tmp_path / "ca.pem").exists() and config["ca_file"] == str(tmp_path / "ca.pem")
    assert config["tenant_domain"] == "contoso.onmicrosoft.com"
    names = {a["name"]: a for a in config["apps"]}
    assert set(names["openrooms"]["permissions"]) == {
        "Directory.Read.All", "Calendars.ReadWrite", "Place.Read.All", "MailboxSettings.Read"}
    assert "Calendars.ReadWrite" not in names["openrooms-no-calendar-consent"]["permissions"]
    assert names["openrooms-expired-secret"]["secret_expires"] < date.today().isoformat()
    assert {"secret_id", "secret_value", "client_id"} <= set(names["openrooms"])
    assert len(config["rooms"]) == 14
    assert config["control_url"] == "https://127.0.0.1:9999/_emulator/api"


def test_certificates_are_reused_across_restarts(tmp_path):
    first = start_emulator(port=0, state_dir=tmp_path, **TEST_OPTIONS)
    ca = (tmp_path / "ca.pem").read_bytes()
    first.stop()
    second = start_emulator(port=0, state_dir=tmp_path, **TEST_OPTIONS)
    second.stop()
    assert (tmp_path / "ca.pem").read_bytes() == ca


def test_state_file_keeps_calendars_across_a_restart(tmp_path, fixture_file):
    state_file = tmp_path / "state.json"
    options = {**TEST_OPTIONS, "fixture": fixture_file, "state_dir": tmp_path,
               "state_file": state_file}
    handle = start_emulator(port=0, **options)
    config = handle.config()
    with graph_client(config, token_for(config, "openrooms")) as graph:
        created = graph.post(f"/users/{ROOM}/events", json={
            "subject": "Survives", "start": {"dateTime": "2027-08-01T09:00:00",
                                             "timeZone": "UTC"},
            "end": {"dateTime": "2027-08-01T10:00:00", "timeZone": "UTC"}}).json()
    handle.stop()
    assert state_file.exists()
    again = start_emulator(port=0, **options)
    config = again.config()
    try:
        with graph_client(config, token_for(config, "openrooms")) as graph:
            answer = graph.get(f"/users/{ROOM}/events/{created['id']}")
        assert answer.status_code == 200 and answer.json()["subject"] == "Survives"
    finally:
        again.stop()


def test_web_page_shows_rooms_and_books_like_outlook(emulator, config, graph):
    day = (date.today() + timedelta(days=3)).isoformat()
    with httpx.Client(base_url=emulator.base_url, verify=ca_context(config)) as web:
        page = web.get("/_emulator/", params={"day": day})
        assert page.status_code == 200 and "Paris HQ Seine" in page.text
        booked = web.post("/_emulator/action", data={
            "op": "book", "day": day, "tz": "UTC", "organizer": "bob@contoso.onmicrosoft.com",
            "room": ROOM, "subject": "Booked on the page", "start": "15:00", "end": "16:00"})
        assert booked.status_code == 303

        def room_copy():
            items = graph.get(f"/users/{ROOM}/calendarView", params={
                "startDateTime": f"{day}T00:00:00Z",
                "endDateTime": f"{day}T23:59:00Z"}).json()["value"]
            return [i for i in items if i["organizer"]["emailAddress"]["address"].startswith("bob")]

        assert wait_until(room_copy)
        assert "bob@contoso.onmicrosoft.com" in web.get("/_emulator/", params={"day": day}).text
