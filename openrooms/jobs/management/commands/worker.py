"""`openrooms worker`: runs background tasks until stopped.

It is django-tasks-db's worker (tasks are database rows; it claims one at a time with
SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL, an exclusive transaction on SQLite), woken on
PostgreSQL the moment a task is queued (jobs.wake_ups), plus, unless `--no-scheduler`, the
scheduler loop of `openrooms scheduler` in a thread, and the heartbeat thread that keeps this
worker's claims alive (jobs.heartbeat). Start as many workers as the load needs, on one
machine or several; SIGTERM or Ctrl+C stops one after its current task, and it lets go of
every claim at once.
"""

from __future__ import annotations

import gc
import random
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils.crypto import get_random_string
from django_tasks_db.compat import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME
from django_tasks_db.management.commands import db_worker

from openrooms.jobs.heartbeat import release_all, run_heartbeat
from openrooms.jobs.scheduler import run_scheduler
from openrooms.jobs.wake_ups import TaskWakeUps


class WakingWorker(db_worker.Worker):
    """db_worker's Worker, waiting for a task to be queued rather than sleeping out its poll.

    Its loop reads `interval` only to sleep it out when the queue is empty, so reading it is
    the wait here (and it answers 0 to sleep no more).
    """

    def __init__(self, *, wake_ups: TaskWakeUps, **options: Any) -> None:
        self.wake_ups = wake_ups
        super().__init__(**options)

    @property
    def interval(self) -> float:
        self.wake_ups.wait(self.poll_seconds)
        return 0

    @interval.setter
    def interval(self, seconds: float) -> None:
        self.poll_seconds = seconds

    def run_task(self, db_task_result: Any) -> None:
        # A page of a first sync makes hundreds of thousands of objects, which the collector
        # walked again and again: a tenth of the sync (bench/first_sync.py). It waits for
        # the task's end; reference counting frees all but cycles meanwhile.
        gc.disable()
        try:
            super().run_task(db_task_result)
        finally:
            gc.enable()

    def run(self) -> None:
        if self.startup_delay:  # a fleet started together does not look in step
            time.sleep(random.random())
            self.startup_delay = False
        super().run()


class Command(BaseCommand):
    help = "Runs background tasks (django-tasks-db's db_worker) and the scheduler until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        # On SQLite the wait on an empty queue is most of a booking's way to Outlook: with 1 s,
        # p50 0.66 s and p99 1.10 s; with 0.25 s, 0.26 s and 0.37 s (bench/outbound_latency.py),
        # for one indexed query four times a second per idle worker. PostgreSQL wakes the
        # worker when a task is queued, and the poll is a safety net.
        parser.add_argument(
            "--interval", type=float, default=0.25,
            help="Seconds to wait when the queue is empty before looking again (default 0.25).",
        )
        parser.add_argument(
            "--no-scheduler", action="store_true",
            help="Do not run the scheduler here (run `openrooms scheduler` somewhere instead).",
        )
        parser.add_argument(
            "--scheduler-every", type=float, default=settings.SCHEDULER_INTERVAL_SECONDS,
            help="Seconds between scheduler ticks (default: SCHEDULER_INTERVAL_SECONDS).",
        )
        parser.add_argument(
            "--no-startup-delay", action="store_true",
            help="Start at once (by default a worker waits up to 1 s, so a fleet starting "
            "together does not poll in step).",
        )

    def handle(
        self, *, interval: float, no_scheduler: bool, scheduler_every: float,
        no_startup_delay: bool, verbosity: int, **options: Any,
    ) -> None:
        if not no_scheduler:
            # A daemon thread: it stops with the worker, which db_worker ends on SIGTERM.
            threading.Thread(
                target=run_scheduler, args=(scheduler_every,), name="scheduler", daemon=True
            ).start()
        stop_beating = threading.Event()
        heartbeat = threading.Thread(
            target=run_heartbeat, args=(stop_beating,), name="heartbeat", daemon=True
        )
        heartbeat.start()
        # What is loaded by now lives as long as the worker: the collector leaves it alone,
        # rather than walk it again each time a page of a sync makes its thousands of objects.
        gc.freeze()
        wake_ups = TaskWakeUps()
        wake_ups.start()
        db_worker.Command().configure_logging(verbosity)
        worker = WakingWorker(
            wake_ups=wake_ups, queue_names=[DEFAULT_TASK_QUEUE_NAME], excluded_queue_names=[],
            interval=interval, batch=False, backend_name=DEFAULT_TASK_BACKEND_ALIAS,
            startup_delay=not no_startup_delay, max_tasks=None, worker_id=get_random_string(32),
        )
        try:
            worker.configure_signals()
            worker.run()
        finally:
            wake_ups.stop()
            stop_beating.set()
            heartbeat.join(timeout=5)
            release_all()
