"""Outlook change -> booking latency with change notifications (webhooks): p50 and p99.

Starts the emulator (every Graph answer 50 ms late), serves openrooms over HTTPS
(openrooms.tls_server) for Graph's notifications, runs one `openrooms worker` (its scheduler
subscribes the linked room; polling is off, so only notifications bring changes), then books
N meetings "in Outlook" one after another through the emulator's control API and times each
from the control call's return to the booking's row appearing here. The room's booking
assistant answers at once (its delay is Microsoft's, not ours). Goal: under 2 s.

    .venv/bin/python bench/webhook_latency.py [--meetings 100]        # SQLite, temporary folder
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/openrooms_bench \
        .venv/bin/python bench/webhook_latency.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOM = "paris-seine@contoso.onmicrosoft.com"
ORGANIZER = "bob@contoso.onmicrosoft.com"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered)) - 1)]


def prepare_database(url: str) -> None:
    """PostgreSQL: create the database if it is missing (SQLite creates its file)."""
    if not url.startswith("postgres"):
        return
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        name = url.rsplit("/", 1)[1]
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meetings", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=50,
                        help="added to every Graph answer by the emulator (default 50)")
    parser.add_argument("--worker-interval", type=float, default=0.25,
                        help="seconds the worker waits on an empty queue (its default, 0.25)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="openrooms-webhook-bench-"))
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'bench.sqlite3'}"
    prepare_database(database_url)
    os.environ.update({
        "DATABASE_URL": database_url, "OPENROOMS_DATA_DIR": str(folder / "data"),
        "DJANGO_SETTINGS_MODULE": "openrooms.settings", "LOG_LEVEL": "ERROR",
    })
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import httpx
    from common import connected_organisation  # bench/common.py
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    import m365_emulator
    from m365_emulator.server import start_emulator
    from openrooms.bookings.models import Booking
    from openrooms.integrations.microsoft365.models import (
        CalendarSyncState,
        RoomLink,
    )
    from openrooms.spaces.models import Space
    from openrooms.spaces.services import do_create_office, do_create_space
    from openrooms.tls_server import make_certificate, serve_https

    if database_url.startswith("postgres"):
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)

    certificate = make_certificate(folder / "receiver-tls")
    receiver = serve_https(WSGIHandler(), certificate)
    emulator = start_emulator(
        fixture=Path(m365_emulator.__file__).parent / "fixtures" / "demo.json", port=0,
        state_dir=folder / "m365", latency_ms=args.latency_ms, rba_delay_seconds=0,
        tick_seconds=0.02, webhook_verify=str(certificate.ca_file),
    )
    config = emulator.config()
    organisation = connected_organisation(config, timezone="Europe/Paris")
    office = do_create_office(organisation, name="Paris", timezone="Europe/Paris")
    space = do_create_space(office, kind=Space.Kind.ROOM, name="Seine", capacity=8)
    link = RoomLink.objects.create(space=space, organisation=organisation, mailbox=ROOM,
                                   mailbox_checked_at=timezone.now())  # as an import leaves it

    worker_env = {
        **os.environ,
        "PUBLIC_BASE_URL": receiver.url,
        "MICROSOFT_LOGIN_URL": config["authority"].rsplit("/", 1)[0],
        "MICROSOFT_GRAPH_URL": config["graph_url"],
        "MICROSOFT_CA_FILE": config["ca_file"],
        # No polling at all: the first full sync is the pull subscribing queues, and every
        # later change can only come through a notification.
        "MICROSOFT_POLL_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", str(args.worker_interval),
         "--scheduler-every", "1", "--no-startup-delay", "-v", "0"],
        cwd=ROOT, env=worker_env,
    )
    control = httpx.Client(
        base_url=config["control_url"].rstrip("/") + "/",
        verify=ssl.create_default_context(cafile=config["ca_file"]), timeout=30,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # subscribed, and the first full sync done
            state = CalendarSyncState.objects.filter(link=link).first()
            if state and state.subscription_id and state.last_full_sync_at:
                break
            if time.monotonic() > deadline:
                error = state.subscription_error if state else ""
                raise SystemExit(f"No subscription after 60 s. {error}")
            time.sleep(0.1)
        pulls_before = DBTaskResult.objects.filter(task_path__endswith="pull_room_calendar").count()
        control.post("reset", json={})  # request counters from here on
        notified_before = control.get("counters").json()["notifications_delivered"]
        first_day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).replace(
            hour=7, minute=0, second=0, microsecond=0)
        latencies = []
        for n in range(args.meetings):
            start = first_day + dt.timedelta(days=n // 16, minutes=30 * (n % 16))
            answer = control.post("outlook/book", json={
                "organizer": ORGANIZER, "room": ROOM, "subject": f"Bench {n}", "timeZone": "UTC",
                "start": start.strftime("%Y-%m-%dT%H:%M:%S"),
                "end": (start + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"),
            })
            answer.raise_for_status()
            booked = time.perf_counter()
            ical_uid = answer.json()["iCalUId"]
            while not Booking.objects.filter(space=space, ical_uid=ical_uid).exists():
                if time.perf_counter() - booked > 60:
                    raise SystemExit(f"Meeting {n} never arrived.")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - booked)
        counters = control.get("counters").json()
        pulls = DBTaskResult.objects.filter(task_path__endswith="pull_room_calendar").count()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        emulator.stop()
        receiver.stop()
        django.db.connection.close()
        shutil.rmtree(folder, ignore_errors=True)
    requests = counters["requests_per_endpoint"]
    delta = sum(v for k, v in requests.items() if "delta" in k)
    print(f"database={django.db.connection.vendor} meetings={len(latencies)} "
          f"graph_latency={args.latency_ms}ms worker_interval={args.worker_interval}s")
    print(f"{'':<22}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}")
    print(f"{'Outlook -> booking':<22}" + "".join(
        f"{value * 1000:>6.0f}ms" for value in (
            statistics.median(latencies), percentile(latencies, 0.9),
            percentile(latencies, 0.99), max(latencies))))
    print(f"graph_requests={sum(requests.values())} delta_requests={delta} "
          f"notifications_delivered={counters['notifications_delivered'] - notified_before} "
          f"notifications_failed={counters['notifications_failed']} "
          f"pull_tasks={pulls - pulls_before}")
    for endpoint, count in sorted(requests.items(), key=lambda item: -item[1]):
        print(f"  {count:>5}  {endpoint}")


if __name__ == "__main__":
    main()
