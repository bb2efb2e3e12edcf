"""What the Microsoft 365 benchmarks share: an organisation connected to the emulator's app.

Call after django.setup(): the models are imported here, when called.
"""

from __future__ import annotations

from typing import Any


def connected_organisation(config: dict[str, Any], *, timezone: str = "Europe/London") -> Any:
    """The "Bench" organisation, connected in room-calendar mode to the emulator's openrooms
    app (`config` is the emulator's)."""
    from openrooms.accounts.services import do_create_organisation
    from openrooms.integrations.microsoft365.connection import do_save_connection

    organisation, _ = do_create_organisation(
        name="Bench", slug="bench", admin_email="bench@bench.test",
        admin_password="bench-password-1", timezone_name=timezone,
    )
    app = next(a for a in config["apps"] if a["name"] == "openrooms")
    do_save_connection(
        organisation, tenant_id=config["tenant_id"], client_id=app["client_id"],
        client_secret=app["secret_value"], secret_expires_on=None, write_mode="room",
    )
    return organisation


def seed_office(rooms: int, desks: int, *, seed: int = 7) -> tuple[Any, Any, Any, Any]:
    """A "Tower" office of `rooms` rooms and `desks` desks with tomorrow's bookings: about six
    half-hour meetings a room with gaps, 60 % of desks taken for the day. Returns
    (organisation, admin, office, day); call on an empty, migrated database."""
    import datetime as dt
    import random
    import zoneinfo

    from django.db import connection, transaction
    from django.utils import timezone as django_timezone

    from openrooms.accounts.services import do_create_organisation
    from openrooms.bookings.models import Booking
    from openrooms.bookings.placement import insert_bookings
    from openrooms.spaces.models import Space
    from openrooms.spaces.services import do_create_office

    organisation, admin = do_create_organisation(
        name="Bench", slug="bench", admin_email="bench@bench.test",
        admin_password="bench-password-1", timezone_name="Europe/London",
    )
    office = do_create_office(organisation, name="Tower", timezone="Europe/London")
    Space.objects.bulk_create(
        [Space(office=office, kind="room", name=f"Room {n:04d}", capacity=4 + n % 12,
               amenities=["Screen", "Whiteboard"] if n % 3 else [])
         for n in range(rooms)]
        + [Space(office=office, kind="desk", name=f"Desk {n:05d}") for n in range(desks)],
        batch_size=2_000,
    )
    zone = zoneinfo.ZoneInfo(office.timezone)
    day = dt.date.today() + dt.timedelta(days=1)
    rng = random.Random(seed)
    bookings = []
    for space_id, kind in Space.objects.filter(office=office).values_list("pk", "kind"):
        if kind == "room":
            hour = 8
            for _ in range(6):
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
        insert_bookings(bookings, django_timezone.now())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return organisation, admin, office, day


def percentiles(timings: list[float]) -> tuple[float, float]:
    """p50 and p95 of `timings`."""
    import statistics

    ordered = sorted(timings)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


def bench_database_urls(only: str | None) -> dict[str, str]:
    """The databases a bench runs on: a throwaway SQLite file and the PostgreSQL bench
    database (`BENCH_POSTGRES_URL`, created when missing), or the one named by `only`."""
    import os
    import tempfile

    postgres_url = os.environ.get(
        "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/openrooms_bench"
    )
    targets = {
        "sqlite": f"sqlite:///{tempfile.mkdtemp(prefix='openrooms-bench-')}/bench.sqlite3",
        "postgres": postgres_url,
    }
    if only:
        targets = {only: targets[only]}
    if "postgres" in targets:
        import psycopg

        server, name = postgres_url.rsplit("/", 1)
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                admin.execute(f'CREATE DATABASE "{name}"')
    return targets


def run_on_each_database(script: str, description: str, measure: Any, what: str) -> None:
    """The command line of a bench that measures in a child process per database:
    `[--runs N] [--only sqlite|postgres] [--profile]`; the child calls
    `measure(runs, profile)`. `what` says what --profile profiles."""
    import argparse
    import os
    import subprocess
    import sys

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--profile", action="store_true", help=f"cProfile {what}")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(args.runs, args.profile)
        return
    for url in bench_database_urls(args.only).values():
        env = {
            **os.environ, "DATABASE_URL": url, "LOG_LEVEL": "ERROR", "ALLOWED_HOSTS": "testserver"
        }
        command = [sys.executable, script, "--child", "--runs", str(args.runs)]
        subprocess.run(command + ["--profile"] * args.profile, env=env, check=True)
