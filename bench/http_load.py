"""Requests per second and p50/p95/p99 of the pages and endpoints people use, over HTTP, served
by `openrooms serve` (its defaults: a process per core, at least two, four threads each).

Seeds an office of 20 rooms and 200 desks on one floor with a day of bookings, then loads, for
SECONDS at each of 1, 10 and 50 concurrent clients (threads, each with its own keep-alive
connection): the day view, the plan status, the availability API and booking creation (each
request books a new slot). Prints the figures and the peak memory (VmHWM) of each server
process, on SQLite and on PostgreSQL (a bench database, emptied first). The load runs on the
same machine as the server, so on 2 cores the client takes some of the CPU it measures.

    .venv/bin/python bench/http_load.py [--seconds 8] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/openrooms_bench"
)
LEVELS = (1, 10, 50)
ROOMS, DESKS = 20, 200
SEED = """
import datetime as dt, json, zoneinfo
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from openrooms.accounts.services import (
    do_create_account, do_create_api_token, do_create_organisation)
from openrooms.bookings.models import Booking
from openrooms.bookings.placement import insert_bookings
from openrooms.spaces.models import Space
from openrooms.spaces.services import do_create_floor, do_create_office
organisation, admin = do_create_organisation(name="Bench", slug="bench",
    admin_email="bench@bench.test", admin_password="bench-password-1",
    timezone_name="Europe/London")
organisation.max_days_ahead = 3650
organisation.save()
member = do_create_account(organisation, email="member@bench.test",
    password="bench-password-1", name="Member")
office = do_create_office(organisation, name="Tower", timezone="Europe/London")
floor = do_create_floor(office, name="Ground", order=0)
Space.objects.bulk_create(
    [Space(office=office, floor=floor, kind="room", name=f"Room {n}", capacity=8,
           plan_x=(n % 10) / 10, plan_y=0.1) for n in range(ROOMS)]
    + [Space(office=office, floor=floor, kind="desk", name=f"Desk {n}",
             plan_x=(n % 20) / 20, plan_y=0.3 + (n // 20) / 20) for n in range(DESKS)])
zone = zoneinfo.ZoneInfo(office.timezone)
day = dt.date.today() + dt.timedelta(days=1)
bookings = []
for number, space in enumerate(Space.objects.filter(office=office)):
    for hour in (range(9, 17, 2) if space.kind == "room" else (range(8, 9) if number % 3 else [])):
        start = dt.datetime.combine(day, dt.time(hour), tzinfo=zone)
        bookings.append(Booking(space=space, booker=admin, start=start,
                                end=start + dt.timedelta(hours=1 if space.kind == "room" else 9)))
insert_bookings(bookings, dt.datetime.now(dt.UTC))
session = SessionStore()
session[SESSION_KEY] = str(member.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = member.get_session_auth_hash()
session.save()
print(json.dumps({"token": do_create_api_token(member)[1], "session": session.session_key,
    "office": office.pk, "floor": floor.pk, "day": day.isoformat(),
    "desks": list(Space.objects.filter(kind="desk").values_list("pk", flat=True))}))
""".replace("ROOMS", str(ROOMS)).replace("DESKS", str(DESKS))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict[str, str], *arguments: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(result.stdout + result.stderr)
    return result.stdout


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def server_processes(master: int) -> list[int]:
    return [master] + [int(pid) for pid in
                       Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def load(seconds: float, clients: int, request: Callable[[httpx.Client], int],
         make_client: Callable[[], httpx.Client]) -> tuple[float, list[float], int]:
    """`clients` threads sending `request` back to back for `seconds`: rps, latencies, errors."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def run() -> None:
        nonlocal errors
        with make_client() as http:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    ok = request(http) < 400
                except httpx.HTTPError:
                    ok = False
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    errors += not ok

    threads = [threading.Thread(target=run) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - began), latencies, errors


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100)[int(share * 100) - 1] if len(values) > 1 else (
        values[0] if values else 0.0)


def bench(engine: str, seconds: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="openrooms-http-load-"))
    database_url = POSTGRES_URL if engine == "postgres" else f"sqlite:///{folder / 'db.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": database_url, "OPENROOMS_DATA_DIR": str(folder),
           "OPENROOMS_INSECURE_HTTP": "1", "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "openrooms.settings"}
    env.pop("DEBUG", None)
    if engine == "postgres":
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc",
                        "DROP DATABASE IF EXISTS openrooms_bench WITH (FORCE)"], check=True)
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc",
                        "CREATE DATABASE openrooms_bench"], check=True)
    manage(env, "migrate", "-v", "0")
    import json

    seeded = json.loads(manage(env, "shell", "-c", SEED).strip().splitlines()[-1])
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}"], cwd=ROOT,
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("openrooms serve did not start")
            time.sleep(0.1)
        day, office, floor = seeded["day"], seeded["office"], seeded["floor"]
        slots = itertools.count()
        slot_lock = threading.Lock()
        desks = seeded["desks"]
        first = dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=2),
                                    dt.time(0), tzinfo=dt.UTC)

        def book(http: httpx.Client) -> int:
            with slot_lock:
                slot = next(slots)
            start = first + dt.timedelta(hours=slot // len(desks))
            return http.post("/api/v1/bookings", json={
                "space": desks[slot % len(desks)], "start": start.isoformat(),
                "end": (start + dt.timedelta(minutes=30)).isoformat()}).status_code

        requests: dict[str, Callable[[httpx.Client], int]] = {
            "day view": lambda http: http.get("/", params={"office": office, "date": day})
            .status_code,
            "plan status": lambda http: http.get(
                f"/plan/{floor}/status/", params={"date": day, "start": "09:00", "end": "10:00"}
            ).status_code,
            "availability API": lambda http: http.get(
                "/api/v1/availability", params={"office": office, "date": day}).status_code,
            "booking (API)": book,
        }

        def client() -> httpx.Client:
            return httpx.Client(
                base_url=base, timeout=30, cookies={"sessionid": seeded["session"]},
                headers={"Authorization": f"Bearer {seeded['token']}"},
            )

        print(f"\n{engine}: openrooms serve with its defaults; {seconds:g} s at each level")
        print(f"{'endpoint':18} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'p99 ms':>8} {'errors':>7}")
        for name, request in requests.items():
            for clients in LEVELS:
                rps, latencies, errors = load(seconds, clients, request, client)
                print(f"{name:18} {clients:>7} {rps:>8.1f} "
                      f"{percentile(latencies, 0.50) * 1000:>8.1f} "
                      f"{percentile(latencies, 0.95) * 1000:>8.1f} "
                      f"{percentile(latencies, 0.99) * 1000:>8.1f} {errors:>7}", flush=True)
        peaks = ", ".join(f"{peak_memory_mb(pid):.0f} MB" for pid in server_processes(server.pid))
        print(f"peak memory (VmHWM) of the server's processes, master first: {peaks}")
    finally:
        server.terminate()
        server.wait(timeout=40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    for engine in ("sqlite", "postgres"):
        if args.only in (None, engine):
            bench(engine, args.seconds)


if __name__ == "__main__":
    main()
