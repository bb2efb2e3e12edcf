"""First sync of a big tenant's room calendars: wall time, Graph requests and their minimum.

Starts the Microsoft 365 emulator in this process with a generated tenant (`--rooms` rooms,
`--days` days of meetings around today: about six a working day per room, weekly series, a few
private and cancelled ones; see the emulator README, `generate_meetings`), creates an
organisation connected to the emulator's app with every room linked (bulk inserts), and times
the first sync the way the product runs it: one scheduler tick enqueues a `pull_room_calendar`
task per room and `--workers` real `openrooms worker` processes run them, until every room has
a `last_success_at`. Workers are processes, as in production, so the sync and the emulator
(this process) use both cores; `--mode threads` runs `pull_with_lease` from a thread pool here
instead, sharing one interpreter lock with the emulator (slower; for profiling).

The minimum the contract allows is, per room, ceil(instances / page size cap) delta requests,
the cap being the documented Outlook maximum (1000; Microsoft documents no maximum for
calendarView/delta itself: see inbound/pull.py, DELTA_PAGE_SIZE). Token requests to the identity
platform are not Graph requests and are counted apart.

    .venv/bin/python bench/first_sync.py [--rooms 2000] [--days 90] [--workers 3] [--profile]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/openrooms_bench_first_sync ...  # PostgreSQL

It prints the CPU each part used (emulator, workers, PostgreSQL's backends, and whatever else
ran on the machine meanwhile); `--profile` adds where the emulator's threads and the workers
spent it (sampled: see PROFILED).

SQLite by default (a throwaway file in --data-dir); with DATABASE_URL, a PostgreSQL database
whose name contains "bench", dropped and created afresh.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from m365_emulator.fixture import DEFAULT_FIXTURE  # noqa: E402 - after the path is set
from m365_emulator.server import EmulatorHandle, start_emulator  # noqa: E402

CONTRACT_PAGE_CAP = 1000
# Runs a script with a sampling profiler (cProfile's per-call cost would swamp the hot loops):
# every millisecond of CPU time (SIGPROF) the main thread's stack is counted, by innermost
# function ("self", with the nearest frame of ours) and by every function on it ("total");
# written as JSON when the script exits. Time spent waiting is not sampled.
PROFILED = """
import atexit, collections, json, runpy, signal, sys
out, sys.argv = sys.argv[1], sys.argv[2:]
own, total = collections.Counter(), collections.Counter()
OURS = {'pull.py', 'meetings.py', 'outlook.py', 'placement.py', 'client.py', 'db_worker.py'}
def name(code):
    return code.co_filename.rsplit('/', 1)[-1] + ':' + code.co_name
def sample(signum, frame):
    names = []
    while frame is not None:
        names.append(name(frame.f_code))
        frame = frame.f_back
    if names:
        ours = next((n for n in names[1:] if n.split(':')[0] in OURS), '')
        own[names[0] + (' < ' + ours if ours else '')] += 1
        total.update(set(names))
def dump():
    signal.setitimer(signal.ITIMER_PROF, 0)
    with open(out, 'w') as f:
        json.dump({'self': own, 'total': total}, f)
signal.signal(signal.SIGPROF, sample)
signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)
atexit.register(dump)
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def fresh_postgres_database(url: str) -> None:
    import psycopg

    server, name = url.rsplit("/", 1)
    if "bench" not in name:
        sys.exit(f"Refusing to drop database {name!r}: its name must contain 'bench'.")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def start_tenant(args: argparse.Namespace, folder: Path) -> tuple[EmulatorHandle, float]:
    tenant = json.loads(DEFAULT_FIXTURE.read_text())
    tenant["generate_rooms"] = args.rooms
    back = args.days // 2
    tenant["generate_meetings"] = {"days_back": back, "days_ahead": args.days - back,
                                   "per_day": args.per_day, "seed": args.seed}
    fixture = folder / "tenant.json"
    fixture.write_text(json.dumps(tenant))
    started = time.perf_counter()
    handle = start_emulator(fixture=fixture, port=0, state_dir=folder / "emulator")
    return handle, time.perf_counter() - started


def set_up_organisation(args: argparse.Namespace, config: dict[str, Any]) -> list[str]:
    """An organisation connected to the emulator's app, with every generated room linked."""
    from common import connected_organisation  # bench/common.py
    from django.utils import timezone

    from openrooms.integrations.microsoft365.models import RoomLink
    from openrooms.spaces.models import Space
    from openrooms.spaces.services import do_create_office

    organisation = connected_organisation(config)
    office = do_create_office(organisation, name="Tower", timezone="Europe/London")
    mailboxes = [m for m in config["rooms"] if m.startswith("gen-room-")]
    spaces = Space.objects.bulk_create(
        [Space(office=office, kind="room", name=m.split("@")[0], capacity=8) for m in mailboxes],
        batch_size=500,
    )
    RoomLink.objects.bulk_create(
        # As an import leaves them: checked to be rooms (rooms.py), so no pull asks again.
        [RoomLink(space=space, organisation=organisation, mailbox=mailbox,
                  display_name=space.name, mailbox_checked_at=timezone.now())
         for space, mailbox in zip(spaces, mailboxes, strict=True)],
        batch_size=500,
    )
    return mailboxes


def start_workers(args: argparse.Namespace, env: dict[str, str], folder: Path,
                  profile: bool) -> list[subprocess.Popen]:
    workers = []
    for n in range(args.workers):
        command = [sys.executable]
        if profile:
            command += ["-c", PROFILED, str(folder / f"worker-{n}.prof")]
        command += [str(ROOT / "manage.py"), "worker", "--no-scheduler", "--interval", "0.05",
                    "--no-startup-delay"]
        log = (folder / f"worker-{n}.log").open("w")
        workers.append(subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 60
    while not all("Starting worker" in (folder / f"worker-{n}.log").read_text()
                  for n in range(args.workers)):
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            sys.exit(f"Workers did not start; see {folder}/worker-*.log")
        time.sleep(0.1)
    return workers


def machine_busy_seconds() -> float:
    """CPU time every process of this machine has used so far (Linux /proc/stat)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def count_token_requests(handle: EmulatorHandle) -> list[int]:
    """Counts the token requests the emulator answers from now on (in [0])."""
    counted = [0]
    identity = handle.emulator.identity
    answer = identity.token

    def token(*args: Any, **kwargs: Any) -> Any:
        counted[0] += 1
        return answer(*args, **kwargs)

    identity.token = token  # type: ignore[method-assign]
    return counted


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_server_cpu(name: str) -> dict[int, float] | None:
    """CPU so far of each PostgreSQL backend serving the bench database (same machine only)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])
        pids = [row[0] for row in cursor.fetchall()]
    try:
        return {pid: cpu_seconds(pid) for pid in pids}
    except OSError:
        return None  # another machine, or not ours to read


IDLE = ("select", "wait", "accept", "readinto", "_wait_for_tstate_lock", "recv_into",
        "ssl.py:read", "readline")


class FrameSampler:
    """A small sampling profiler for the emulator's threads (cProfile sees one thread only):
    every few milliseconds, the innermost function of each emulator thread is counted."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        main = threading.main_thread().ident
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident in (me, main):
                    continue
                # The innermost frame of our own code (m365_emulator), or the library call.
                code = frame.f_code
                name = f"{Path(code.co_filename).name}:{code.co_name}"
                while frame is not None and "m365_emulator" not in frame.f_code.co_filename:
                    frame = frame.f_back
                if frame is not None:
                    here = frame.f_code
                    name = f"{Path(here.co_filename).name}:{here.co_name} > {name}"
                if name.endswith(IDLE):
                    continue  # waiting for a request, a connection or a lock
                self.counts[name] += 1
                self.samples += 1

    def report(self, top: int = 12) -> None:
        print(f"emulator threads, {self.samples} busy samples:")
        for name, count in self.counts.most_common(top):
            print(f"  {100 * count / max(self.samples, 1):5.1f}%  {name}")


def print_worker_profiles(folder: Path, workers: int, top: int = 25) -> None:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    for n in range(workers):
        path = folder / f"worker-{n}.prof"
        if path.exists():
            samples = json.loads(path.read_text())
            own.update(samples["self"])
            total.update(samples["total"])
    count = max(sum(own.values()), 1)
    for title, counter in (("self", own), ("total (on the stack)", total)):
        print(f"workers, {count} samples, by {title}:")
        for function, hits in counter.most_common(top):
            print(f"  {100 * hits / count:5.1f}%  {function}")


def run(args: argparse.Namespace) -> None:
    folder = Path(args.data_dir or tempfile.mkdtemp(prefix="openrooms-first-sync-"))
    folder.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{folder}/bench.sqlite3"
    if database_url.startswith("postgres"):
        fresh_postgres_database(database_url)
    back = args.days // 2
    env_settings = {
        "OPENROOMS_DATA_DIR": str(folder), "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "openrooms.settings", "LOG_LEVEL": "INFO",
        # The window covers every generated meeting (a day more each side).
        "MICROSOFT_SYNC_DAYS_BACK": str(back + 1),
        "MICROSOFT_SYNC_DAYS_AHEAD": str(args.days - back + 1),
        # One scheduler tick, here: polling again in the middle would be a second sync.
        "MICROSOFT_POLL_SECONDS": "86400",
    }
    print(f"Generating the tenant ({args.rooms} rooms, {args.days} days) ...", flush=True)
    handle, built_in = start_tenant(args, folder)
    config = handle.config()
    env_settings.update({
        "MICROSOFT_LOGIN_URL": config["authority"].rsplit("/", 1)[0],
        "MICROSOFT_GRAPH_URL": config["graph_url"], "MICROSOFT_CA_FILE": config["ca_file"],
    })
    os.environ.update(env_settings)
    os.environ["LOG_LEVEL"] = "WARNING"  # this process: the figures only

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    mailboxes = set_up_organisation(args, config)
    print(f"emulator ready in {built_in:.1f}s; database {connection.vendor} ready; "
          f"{len(mailboxes)} rooms linked", flush=True)

    workers: list[subprocess.Popen] = []
    if args.mode == "workers":
        workers = start_workers(args, {**os.environ, **env_settings}, folder, args.profile)
    try:
        measure(args, handle, workers, len(mailboxes), folder)
    finally:
        stop_workers(workers)
        handle.stop()


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=60)


def measure(args: argparse.Namespace, handle: EmulatorHandle, workers: list[subprocess.Popen],
            rooms: int, folder: Path) -> None:
    from django.db import close_old_connections, connection

    from openrooms.bookings.models import Booking
    from openrooms.integrations.microsoft365.inbound.pull import pull_with_lease
    from openrooms.integrations.microsoft365.models import (
        CalendarSyncState,
        RoomLink,
    )
    from openrooms.jobs.scheduler import schedule_periodic_work

    store = handle.emulator.store
    sampler = FrameSampler() if args.profile else None
    tokens = count_token_requests(handle)
    handle.emulator.throttle.reset()  # count from here
    server_before = database_server_cpu(connection.settings_dict["NAME"]) or {}
    workers_before = sum(cpu_seconds(w.pid) for w in workers)  # starting Django is not the sync
    machine_busy = machine_busy_seconds()
    emulator_cpu = time.process_time()
    if sampler:
        sampler.start()
    started = time.perf_counter()
    if args.mode == "workers":
        # The scheduler's tick, as `openrooms worker` runs it: a pull task per due room.
        schedule_periodic_work("first-sync-bench", interval=1.0)
    else:
        def pull(link_id: int) -> str:
            try:
                return pull_with_lease(link_id)
            finally:
                close_old_connections()

        pool = ThreadPoolExecutor(args.workers)
        ids = list(RoomLink.objects.values_list("pk", flat=True))
        futures = [pool.submit(pull, link_id) for link_id in ids]
    done = 0
    while done < rooms:
        time.sleep(0.2)
        done = CalendarSyncState.objects.filter(last_success_at__isnull=False).count()
        failing = CalendarSyncState.objects.exclude(last_error="").count()
        if failing:
            print(f"{failing} rooms failing, e.g.:",
                  CalendarSyncState.objects.exclude(last_error="").first().last_error)
            break
        if time.perf_counter() - started > args.timeout:
            print(f"timed out with {done} rooms synced")
            break
    wall = time.perf_counter() - started
    emulator_cpu = time.process_time() - emulator_cpu
    machine_busy = machine_busy_seconds() - machine_busy
    if sampler:
        sampler.stop()
    if args.mode == "threads":
        results = collections.Counter(f.result() for f in futures)
        pool.shutdown()
        print("pulls:", dict(results))
    worker_cpu = sum(cpu_seconds(w.pid) for w in workers) - workers_before
    server_after = database_server_cpu(connection.settings_dict["NAME"])
    server_cpu = None if server_after is None else sum(
        cpu - server_before.get(pid, 0.0) for pid, cpu in server_after.items())
    stop_workers(workers)  # their profiles are written as they exit

    counters = handle.emulator.throttle.counters.as_json()
    requests = counters["requests_per_endpoint"]
    graph_requests = sum(requests.values())
    delta_requests = sum(n for endpoint, n in requests.items() if "/delta" in endpoint)
    instances, minimum = 0, 0
    states = CalendarSyncState.objects.select_related("link")
    for state in states.exclude(window_start=None):
        room = handle.emulator.tenant.mailbox(state.link.mailbox)
        count = store.instance_count(room.id, state.window_start, state.window_end)
        instances += count
        minimum += max(1, math.ceil(count / CONTRACT_PAGE_CAP))
    outlook = Booking.objects.filter(source=Booking.Source.OUTLOOK)
    by_status = dict(collections.Counter(outlook.values_list("status", flat=True)))
    written = outlook.count()
    ours = emulator_cpu + worker_cpu + (server_cpu or 0.0)
    rows = [
        ("database", connection.vendor),
        ("mode", f"{args.mode} x {args.workers}"),
        ("rooms synced", f"{done} / {rooms}"),
        ("wall time", f"{wall:.1f} s"),
        ("events synced", f"{instances:,} ({instances / wall:,.0f}/s)"),
        ("bookings written", f"{written:,} {by_status}"),
        ("Graph requests", f"{graph_requests:,} (calendarView/delta {delta_requests:,})"),
        ("minimum (contract)", f"{minimum:,} (ceil(instances / {CONTRACT_PAGE_CAP}) a room)"),
        ("ratio", f"{graph_requests / max(minimum, 1):.2f}"),
        ("token requests", f"{tokens[0]} (identity platform, not Graph)"),
        ("429 served", str(counters["throttled_429"])),
        ("CPU emulator", f"{emulator_cpu:.1f} s (this process"
                         f"{', pulls included' if not workers else ''})"),
        ("CPU workers", f"{worker_cpu:.1f} s" if workers else "(threads: in this process)"),
        ("CPU PostgreSQL", f"{server_cpu:.1f} s" if server_cpu is not None else "-"),
        ("CPU other processes", f"{max(machine_busy - ours, 0):.1f} s (machine busy "
                                f"{machine_busy:.1f} s "
                                f"of {os.cpu_count()} cores x {wall:.1f} s)"),
    ]
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print(f"\nlogs and profiles: {folder}")
    if sampler:
        print()
        sampler.report()
        print_worker_profiles(folder, len(workers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=6, help="meetings a working day a room")
    parser.add_argument("--workers", type=int, default=3,
                        help="worker processes (or threads with --mode threads)")
    parser.add_argument("--mode", choices=["workers", "threads"], default="workers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--data-dir", help="logs, SQLite file, profiles (default: a temp dir)")
    parser.add_argument("--profile", action="store_true",
                        help="sample where the emulator's threads and the workers spend CPU")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
