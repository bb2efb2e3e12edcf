"""The member's day view beside the availability API for the same spaces, at two office sizes.

For an office of 200 rooms (all on the page) and one of 2,000 rooms and 20,000 desks (its
first page), seeded with a day of bookings (bench/common.py `seed_office`), times in turns
in-process with Django's test client, on SQLite and on PostgreSQL (each in a child process):

- the page: GET /?office=…&date=… signed in as a member (its HTML, 200 rows of timeline);
- the API: GET /api/v1/availability?office=…&date=…&kind=room with a token (the 200 rooms,
  or all 2,000 rooms of the big office: the API has no pages).

    .venv/bin/python bench/day_view.py [--runs 50] [--only sqlite|postgres] [--profile]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = [(200, 0), (2_000, 20_000)]  # (rooms, desks)


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

    from openrooms.accounts.services import do_create_account, do_create_api_token
    from openrooms.bookings.views import SPACES_PER_PAGE

    for rooms, desks in SIZES:
        call_command("flush", interactive=False, verbosity=0)
        call_command("migrate", verbosity=0)
        organisation, _, office, day = seed_office(rooms, desks)
        member = do_create_account(organisation, email="member@bench.test",
                                   password="bench-password-1")
        _, token = do_create_api_token(member)
        page_client, api_client = Client(), Client(headers={"authorization": f"Bearer {token}"})
        page_client.force_login(member)
        page_url = f"/?office={office.pk}&date={day.isoformat()}"
        api_url = f"/api/v1/availability?office={office.pk}&date={day.isoformat()}&kind=room"
        page_client.get(page_url), api_client.get(api_url)  # warm: the session, the token
        page_timings, api_timings = [], []
        for _ in range(runs):
            started = time.perf_counter()
            page = page_client.get(page_url)
            page_timings.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            api = api_client.get(api_url)
            api_timings.append((time.perf_counter() - started) * 1000)
            assert page.status_code == api.status_code == 200
        with CaptureQueriesContext(connection) as queries:
            html = page_client.get(page_url).content.decode()
        rows = html.count('<li class="space-row')
        assert rows == min(rooms + desks, SPACES_PER_PAGE), rows
        page_p50, page_p95 = percentiles(page_timings)
        api_p50, api_p95 = percentiles(api_timings)
        api_rooms = len(api.json()["spaces"])
        print(
            f"{connection.vendor:<10} office of {rooms:,} rooms and {desks:,} desks, runs={runs}\n"
            f"  day view, {rows} rows  p50={page_p50:6.1f} ms  p95={page_p95:6.1f} ms  "
            f"({len(queries)} queries, {len(html) // 1024} KiB)\n"
            f"  API, {api_rooms:,} rooms    p50={api_p50:6.1f} ms  p95={api_p95:6.1f} ms\n"
            f"  page / API          p50 {page_p50 / api_p50:.2f}×  p95 {page_p95 / api_p95:.2f}×"
        )
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(10):
                page_client.get(page_url)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import run_on_each_database

    run_on_each_database(__file__, __doc__.splitlines()[0], measure, "ten page views")


if __name__ == "__main__":
    main()
