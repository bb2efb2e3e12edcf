"""Availability of all rooms of a big office for a day, beside the bare driver select of its rows.

Seeds an office of 2,000 rooms and 20,000 desks with a realistic day of bookings (rooms about
6 meetings each, 60 % of desks taken; bench/common.py `seed_office`), then, on SQLite and on
PostgreSQL (each in a child process), times in turns:

- the API: GET /api/v1/availability?kind=room in-process with Django's test client (token
  authentication, the view, the JSON answer);
- the floor: the same bookings of the same rooms selected with the database driver alone
  (sqlite3 or psycopg on a connection of its own, no Django), rows fetched.

    .venv/bin/python bench/availability.py [--runs 50] [--only sqlite|postgres] [--profile]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROOMS, DESKS = 2_000, 20_000

# The rows the answer holds, as plainly as SQL can ask for them.
FLOOR_SQL = """
SELECT b.space_id, b.id, b.start, b."end", b.title, b.is_private, b.booker_id
FROM spaces_space s JOIN bookings_booking b ON b.space_id = s.id
WHERE s.office_id = {p} AND s.bookable AND s.kind = 'room'
  AND b.status = 'confirmed' AND b.start < {p} AND b."end" > {p}
"""


def bare_driver_select(office_id: int, start: Any, end: Any) -> Any:
    """A function that runs FLOOR_SQL on a driver connection of its own and fetches its rows."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        import sqlite3

        raw = sqlite3.connect(settings["NAME"])
        sql = FLOOR_SQL.format(p="?")
        # Stored as Django stores them: naive UTC text.
        params = (office_id, f"{end:%Y-%m-%d %H:%M:%S}", f"{start:%Y-%m-%d %H:%M:%S}")
        return lambda: raw.execute(sql, params).fetchall()
    import psycopg

    pg = psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"],
        port=settings["PORT"] or 5432, autocommit=True,
    )
    sql = FLOOR_SQL.format(p="%s")
    return lambda: pg.execute(sql, (office_id, end, start)).fetchall()


def measure(runs: int, profile: bool) -> None:
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openrooms.settings")
    django.setup()
    from common import percentiles, seed_office  # bench/common.py
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from openrooms.accounts.services import do_create_api_token
    from openrooms.spaces.office_time import day_bounds

    call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    seeding = time.perf_counter()
    _, admin, office, day = seed_office(ROOMS, DESKS)
    seeded_in = time.perf_counter() - seeding

    _, token = do_create_api_token(admin)
    client = Client(headers={"authorization": f"Bearer {token}"})
    url = f"/api/v1/availability?office={office.pk}&date={day.isoformat()}&kind=room"
    floor_select = bare_driver_select(office.pk, *day_bounds(office, day))
    client.get(url)  # warm: first use of the token, caches
    floor_rows = len(floor_select())
    api_timings, floor_timings = [], []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        api_timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        started = time.perf_counter()
        floor_select()
        floor_timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        body = client.get(url).json()
    busy = sum(len(s["busy"]) for s in body["spaces"])
    assert busy == floor_rows, (busy, floor_rows)
    api_p50, api_p95 = percentiles(api_timings)
    floor_p50, floor_p95 = percentiles(floor_timings)
    print(
        f"{connection.vendor:<10} rooms={len(body['spaces'])} busy={busy} "
        f"seeded_in={seeded_in:.1f}s runs={runs} queries={len(queries)}\n"
        f"  API                 p50={api_p50:6.1f} ms  p95={api_p95:6.1f} ms\n"
        f"  bare driver select  p50={floor_p50:6.1f} ms  p95={floor_p95:6.1f} ms\n"
        f"  API / floor         p50 {api_p50 / floor_p50:.2f}×  p95 {api_p95 / floor_p95:.2f}×"
    )
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(lambda: [client.get(url) for _ in range(10)])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import run_on_each_database

    run_on_each_database(__file__, __doc__.splitlines()[0], measure, "ten API calls")


if __name__ == "__main__":
    main()
