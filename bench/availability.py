"""Availability of all rooms of a big office for a day: p50/p95 latency and query count.

Seeds an office of 2,000 rooms and 20,000 desks with a realistic day of bookings (rooms about
6 meetings each, 60 % of desks taken), then times GET /api/v1/availability?kind=room in-process
with Django's test client, on SQLite and on PostgreSQL (each in a child process).

    .venv/bin/python bench/availability.py [--runs 50] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOMS, DESKS = 2_000, 20_000
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/openrooms_bench")


def measure(runs: int) -> None:
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openrooms.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection, reset_queries, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from openrooms.accounts.services import do_create_api_token, do_create_organisation
    from openrooms.bookings.models import Booking
    from openrooms.bookings.placement import insert_bookings
    from openrooms.spaces.models import Space
    from openrooms.spaces.services import do_create_office

    call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    organisation, admin = do_create_organisation(
        name="Bench", slug="bench", admin_email="bench@bench.test",
        admin_password="bench-password-1", timezone_name="Europe/London",
    )
    office = do_create_office(organisation, name="Tower", timezone="Europe/London")
    seeding = time.perf_counter()
    Space.objects.bulk_create(
        [Space(office=office, kind="room", name=f"Room {n:04d}", capacity=4 + n % 12)
         for n in range(ROOMS)]
        + [Space(office=office, kind="desk", name=f"Desk {n:05d}") for n in range(DESKS)],
        batch_size=2_000,
    )
    zone = zoneinfo.ZoneInfo(office.timezone)
    day = dt.date.today() + dt.timedelta(days=1)
    rng = random.Random(7)
    bookings = []
    for space_id, kind in Space.objects.filter(office=office).values_list("pk", "kind"):
        if kind == "room":
            hour = 8
            for _ in range(6):  # about six meetings a room, with gaps
                hour += rng.choice([0, 0, 1])
                if hour >= 19:
                    break
                start = dt.datetime.combine(day, dt.time(hour, rng.choice([0, 30])), tzinfo=zone)
                bookings.append(Booking(space_id=space_id, booker=admin, start=start,
                                        end=start + dt.timedelta(minutes=30), title="Meeting"))
                hour += 1
        elif rng.random() < 0.6:
            start = dt.datetime.combine(day, dt.time(8), tzinfo=zone)
            bookings.append(Booking(space_id=space_id, booker=admin, start=start,
                                    end=start + dt.timedelta(hours=9)))
    with transaction.atomic():
        insert_bookings(bookings, timezone.now())
    seeded_in = time.perf_counter() - seeding
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    _, token = do_create_api_token(admin)
    client = Client(headers={"authorization": f"Bearer {token}"})
    url = f"/api/v1/availability?office={office.pk}&date={day.isoformat()}&kind=room"
    client.get(url)  # warm: first use of the token, caches
    timings = []
    for _ in range(runs):
        reset_queries()
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        body = client.get(url).json()
    busy = sum(len(s["busy"]) for s in body["spaces"])
    timings.sort()
    p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
    print(
        f"{connection.vendor:<10} rooms={len(body['spaces'])} busy={busy} "
        f"bookings_in_db={len(bookings)} seeded_in={seeded_in:.1f}s runs={runs} "
        f"p50={statistics.median(timings):.1f}ms p95={p95:.1f}ms queries={len(queries)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(args.runs)
        return
    targets = {
        "sqlite": f"sqlite:///{tempfile.mkdtemp(prefix='openrooms-bench-')}/bench.sqlite3",
        "postgres": POSTGRES_URL,
    }
    if "postgres" in targets and args.only != "sqlite":
        import psycopg

        with psycopg.connect(POSTGRES_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as c:
            name = POSTGRES_URL.rsplit("/", 1)[1]
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                c.execute(f'CREATE DATABASE "{name}"')
    for name, url in targets.items():
        if args.only and args.only != name:
            continue
        env = {
            **os.environ, "DATABASE_URL": url, "LOG_LEVEL": "ERROR", "ALLOWED_HOSTS": "testserver"
        }
        subprocess.run(
            [sys.executable, __file__, "--child", "--runs", str(args.runs)], env=env, check=True
        )


if __name__ == "__main__":
    main()
