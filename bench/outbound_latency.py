"""Booking -> room calendar latency with one worker running: p50 / p99 / max, Graph requests.

Starts the Microsoft 365 emulator (`--latency-ms 50`) and one real `openrooms worker` with its
default options, on a fresh database; books rooms one booking after another through `do_book`
(what the web app and the API call), room-calendar mode; and times each booking from its
commit to the creation of its event in the room's calendar (the emulator's createdDateTime of
the event carrying the booking's transactionId, which this script polls the control API for).
Goal (issue 6): median under 1 s, p99 under 3 s.

    .venv/bin/python bench/outbound_latency.py [--bookings 200] [--pause 1] \
        [--worker-args "--interval 1"]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/openrooms_bench_out \\
        .venv/bin/python bench/outbound_latency.py

Default SQLite (a temporary file). A PostgreSQL DATABASE_URL names a bench database: it is
created if missing and emptied first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shlex
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROOMS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_emulator(folder: Path, latency_ms: int) -> tuple[subprocess.Popen, dict[str, Any]]:
    import httpx

    tenant = json.loads((ROOT / "m365_emulator" / "fixtures" / "demo.json").read_text())
    tenant["generate_rooms"] = ROOMS
    fixture = folder / "tenant.json"
    fixture.write_text(json.dumps(tenant))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "m365_emulator", "--port", str(port), "--fixture", str(fixture),
         "--state-dir", str(folder), "--latency-ms", str(latency_ms)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    context = None
    deadline = time.monotonic() + 30
    while True:
        try:
            if context is None:
                context = ssl.create_default_context(cafile=str(folder / "ca.pem"))
            url = f"https://127.0.0.1:{port}/_emulator/api/config"
            return process, httpx.get(url, verify=context, timeout=2).json()
        except (OSError, httpx.HTTPError):
            if time.monotonic() > deadline:
                process.kill()
                raise
            context = None
            time.sleep(0.2)


def seed(config: dict[str, Any]) -> tuple[Any, list[Any]]:
    """An organisation connected in room-calendar mode, a member, and linked rooms."""
    from common import connected_organisation  # bench/common.py
    from django.utils import timezone

    from openrooms.accounts.services import do_create_account
    from openrooms.integrations.microsoft365.models import RoomLink
    from openrooms.spaces.models import Space
    from openrooms.spaces.services import do_create_office, do_create_space

    organisation = connected_organisation(config)
    member = do_create_account(organisation, email="member@bench.test",
                               password="bench-password-1", name="Member")
    office = do_create_office(organisation, name="Tower", timezone="Europe/London")
    rooms = []
    for n in range(1, ROOMS + 1):
        mailbox = f"gen-room-{n:03d}@{config['tenant_domain']}"
        space = do_create_space(office, kind=Space.Kind.ROOM, name=f"Room {n}", capacity=6)
        RoomLink.objects.create(space=space, organisation=organisation, mailbox=mailbox,
                                display_name=f"Room {n}", mailbox_checked_at=timezone.now())
        rooms.append(space)
    return member, rooms


def measure(args: argparse.Namespace) -> None:
    import django
    import httpx

    folder = Path(tempfile.mkdtemp(prefix="openrooms-bench-out-"))
    emulator, config = start_emulator(folder, args.latency_ms)
    worker = None
    try:
        os.environ.update({
            "MICROSOFT_LOGIN_URL": config["authority"].rsplit("/", 1)[0],
            "MICROSOFT_GRAPH_URL": config["graph_url"],
            "MICROSOFT_CA_FILE": config["ca_file"],
            "MICROSOFT_POLL_SECONDS": "0",  # outbound only
            "LOG_LEVEL": "WARNING",
        })
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openrooms.settings")
        django.setup()
        from django.core.management import call_command
        from django.db import connection, transaction

        from openrooms.bookings.services import do_book

        call_command("migrate", verbosity=0)
        if connection.vendor == "postgresql":
            call_command("flush", interactive=False, verbosity=0)
        member, rooms = seed(config)
        connection.close()  # the worker gets SQLite's write lock without waiting for ours

        worker = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "-v", "0", *shlex.split(args.worker_args)],
            cwd=ROOT, env=os.environ.copy(),
        )
        control = httpx.Client(
            base_url=config["control_url"], timeout=10,
            verify=ssl.create_default_context(cafile=config["ca_file"]),
        )
        time.sleep(2)  # the worker's start-up (Django, its first poll) is not a booking's wait
        control.post("/reset", json={"calendars": True})

        day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).replace(
            hour=6, minute=0, second=0, microsecond=0)
        latencies = []
        pauses = random.Random(7)
        for n in range(args.bookings):
            # A person books at any moment of the worker's poll cycle; back to back, each
            # booking would land just as the worker looks again after the previous one.
            time.sleep(pauses.uniform(0, args.pause))
            room = rooms[n % ROOMS]
            start = day + dt.timedelta(days=n // (ROOMS * 12), minutes=60 * (n // ROOMS % 12))
            committed: list[dt.datetime] = []
            with transaction.atomic():
                # First in line after the commit, before the delivery is enqueued.
                transaction.on_commit(partial(stamp, committed))
                booking = do_book(room, booker=member, start=start,
                                  end=start + dt.timedelta(minutes=30), title=f"Bench {n}")
            created = wait_for_event(control, room.room_link.mailbox, start,
                                     str(booking.transaction_id))
            latencies.append((created - committed[0]).total_seconds() * 1000)

        counters = control.get("/counters").json()["requests_per_endpoint"]
        report(connection.vendor, args, latencies, counters)
    finally:
        for process in (worker, emulator):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)


def stamp(moments: list[dt.datetime]) -> None:
    moments.append(dt.datetime.now(dt.UTC))


def wait_for_event(control: Any, mailbox: str, start: dt.datetime, transaction_id: str,
                   timeout: float = 60.0) -> dt.datetime:
    """When the event with this transactionId was created in the room's calendar."""
    window = {"start": start.isoformat(), "end": (start + dt.timedelta(hours=1)).isoformat()}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = control.get(f"/mailboxes/{mailbox}/calendar", params=window).json()["value"]
        for event in events:
            if event.get("transactionId") == transaction_id:
                return dt.datetime.fromisoformat(event["createdDateTime"][:26] + "+00:00")
        time.sleep(0.01)
    raise TimeoutError(f"the event of {transaction_id} did not reach {mailbox}")


def report(vendor: str, args: argparse.Namespace, latencies: list[float],
           counters: dict[str, int]) -> None:
    ordered = sorted(latencies)
    p99 = ordered[max(0, round(0.99 * len(ordered)) - 1)]
    per_booking = sum(counters.values()) / len(latencies)
    by_endpoint = Counter({name: count / len(latencies) for name, count in counters.items()})
    print(
        f"{vendor:<10} bookings={len(latencies)} latency_ms={args.latency_ms} "
        f"pause=0..{args.pause}s worker='{args.worker_args or 'defaults'}' "
        f"p50={statistics.median(ordered):.0f}ms p99={p99:.0f}ms max={ordered[-1]:.0f}ms "
        f"graph_requests_per_booking={per_booking:.2f} "
        f"({', '.join(f'{name} {n:.2f}' for name, n in by_endpoint.most_common())})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=50, help="the emulator's, per answer")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="longest random pause between bookings, seconds (default 1)")
    parser.add_argument("--worker-args", default="",
                        help="options for `openrooms worker`, e.g. \"--interval 0.2\"")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as c:
            name = url.rsplit("/", 1)[1]
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                c.execute(f'CREATE DATABASE "{name}"')
    else:
        folder = tempfile.mkdtemp(prefix="openrooms-bench-out-db-")
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    measure(args)


if __name__ == "__main__":
    main()
