"""Scale-out, shown: two `openrooms serve` processes and three workers on one database, many
clients booking, moving and cancelling through both web processes while a worker is killed
with SIGKILL and started again. Nothing may fail to connect, no slot may be held twice, every
room calendar in the emulator must end equal to its bookings, no event may be written twice.

In the suite it runs OPENROOMS_SCALE_OUT_SECONDS (15) with OPENROOMS_SCALE_OUT_CLIENTS (40);
`make scale-out` runs the full minute with 100 clients on PostgreSQL and prints the figures.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from m365_emulator.testing import wait_until
from openrooms.accounts.services import do_create_account, do_create_api_token
from openrooms.bookings.models import Booking
from openrooms.integrations.microsoft365.models import OutboxEntry
from openrooms.integrations.microsoft365.tests.conftest import database_url
from openrooms.integrations.microsoft365.tests.outbox_helpers import connect, linked_room
from openrooms.operations.tests.processes import PROJECT, answers_health, free_port

pytestmark = pytest.mark.django_db(transaction=True)

SECONDS = float(os.environ.get("OPENROOMS_SCALE_OUT_SECONDS", "15"))
CLIENTS = int(os.environ.get("OPENROOMS_SCALE_OUT_CLIENTS", "40"))
ROOMS = [f"gen-room-{n:03d}@contoso.onmicrosoft.com" for n in range(1, 11)]


def serve(env: dict[str, str], folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = (folder / f"serve-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "8", "--no-collectstatic"],
        cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"


class Load:
    """The clients: each books, moves and cancels its own bookings in the rooms, tomorrow."""

    def __init__(self, bases: list[str], tokens: list[str], rooms: list[int]) -> None:
        self.bases, self.tokens, self.rooms = bases, tokens, rooms
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(
            hour=7, minute=0, second=0, microsecond=0)

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def slot(self, rng: random.Random) -> tuple[str, str]:
        start = self.day + dt.timedelta(minutes=30 * rng.randrange(24))
        return start.isoformat(), (start + dt.timedelta(minutes=30)).isoformat()

    def client(self, number: int) -> None:
        rng = random.Random(number)
        base = self.bases[number % len(self.bases)]  # both web processes, half the clients each
        mine: list[int] = []
        with httpx.Client(base_url=base, timeout=30,
                          headers={"Authorization": f"Bearer {self.tokens[number]}"}) as http:
            while not self.stop.is_set():
                try:
                    self.act(http, rng, mine)
                except httpx.TransportError:
                    self.count("connection errors")

    def act(self, http: httpx.Client, rng: random.Random, mine: list[int]) -> None:
        start, end = self.slot(rng)
        choice = rng.random()
        if not mine or choice < 0.5:
            answer = http.post("/api/v1/bookings", json={
                "space": rng.choice(self.rooms), "start": start, "end": end})
            if answer.status_code == 201:
                mine.append(answer.json()["id"])
            self.count(f"book {answer.status_code}")
        elif choice < 0.8:
            answer = http.patch(f"/api/v1/bookings/{rng.choice(mine)}",
                                json={"start": start, "end": end})
            self.count(f"move {answer.status_code}")
        else:
            booking = mine.pop(rng.randrange(len(mine)))
            answer = http.delete(f"/api/v1/bookings/{booking}")
            self.count(f"cancel {answer.status_code}")
        if answer.status_code >= 500:
            self.count("server errors")


def room_calendar_matches(api, room_mailbox: str, space_id: int, day: dt.datetime) -> bool:
    expected = {
        (str(b.transaction_id), b.start, b.end) for b in Booking.objects.filter(
            space_id=space_id, status=Booking.Status.CONFIRMED, source=Booking.Source.APP)
    }
    found = {
        (event["transactionId"],
         dt.datetime.fromisoformat(event["start"]["dateTime"][:19]).replace(tzinfo=dt.UTC),
         dt.datetime.fromisoformat(event["end"]["dateTime"][:19]).replace(tzinfo=dt.UTC))
        for event in api.events_of(room_mailbox, day)
        if event.get("transactionId") and not event["isCancelled"]
    }
    return expected == found


def test_two_web_processes_and_three_workers_survive_a_killed_worker(
    organisation, office, graph_settings, full_app, emulator_api, start_workers, tmp_path
):
    connect(organisation, graph_settings, full_app, "room")
    rooms = {mailbox: linked_room(organisation, office, mailbox).pk for mailbox in ROOMS}
    tokens = [do_create_api_token(do_create_account(
        organisation, email=f"client{n}@acme.test", password="correct horse battery staple",
    ))[1] for n in range(CLIENTS)]
    env = {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING",
           "OPENROOMS_DATA_DIR": str(tmp_path / "data"), "DATABASE_POOL_SIZE": "10"}
    env.pop("DEBUG", None)
    webs = [serve(env, tmp_path) for _ in range(2)]
    workers = start_workers(3, extra_env={"WORK_CLAIM_SECONDS": "10"})
    try:
        wait_until(lambda: all(answers_health(base) for _, base in webs), timeout=60,
                   interval=0.1)
        load = Load([base for _, base in webs], tokens, list(rooms.values()))
        threads = [threading.Thread(target=load.client, args=(n,)) for n in range(CLIENTS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(SECONDS / 3)
        workers[0].send_signal(signal.SIGKILL)
        time.sleep(SECONDS / 6)
        start_workers(1, extra_env={"WORK_CLAIM_SECONDS": "10"})  # restarted
        time.sleep(max(0.0, SECONDS - (time.monotonic() - started)))
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        ran = time.monotonic() - started
        wait_until(lambda: not OutboxEntry.objects.filter(
            state__in=OutboxEntry.OPEN_STATES).exists(), timeout=120, interval=0.2)
        drained = time.monotonic() - started - ran
    finally:
        for process, _ in webs:
            process.terminate()
        for process, _ in webs:
            process.wait(timeout=40)

    requests = sum(n for what, n in load.counts.items() if what[:4] in {"book", "move", "canc"})
    print(f"\nscale-out: {CLIENTS} clients for {ran:.0f} s through 2 web processes, 3 workers "
          f"(one SIGKILLed, one started): {requests} requests ({requests / ran:.0f}/s), "
          f"{dict(sorted(load.counts.items()))}; outbox drained {drained:.1f} s after")
    assert load.counts["connection errors"] == 0
    assert load.counts["server errors"] == 0
    assert load.counts["book 201"] > 0 and load.counts["move 200"] > 0
    assert OutboxEntry.objects.exclude(state=OutboxEntry.State.DELIVERED).count() == 0
    confirmed = Booking.objects.filter(status=Booking.Status.CONFIRMED)
    for booking in confirmed:
        assert not confirmed.filter(space_id=booking.space_id, start__lt=booking.end,
                                    end__gt=booking.start).exclude(pk=booking.pk).exists()
    written = Counter(event["transactionId"] for mailbox in ROOMS
                      for event in emulator_api.events_of(mailbox, load.day)
                      if event.get("transactionId"))
    assert [tid for tid, n in written.items() if n > 1] == []  # nothing written twice
    for mailbox, space_id in rooms.items():
        assert room_calendar_matches(emulator_api, mailbox, space_id, load.day), mailbox
