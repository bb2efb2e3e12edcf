"""`openrooms scheduler`: enqueues every app's periodic work every few seconds.

The periodic work: outbox retries, room calendar pulls, subscription renewals, daily e-mails.

`openrooms worker` runs the same loop in a thread, so a separate scheduler is only needed when
workers run with `--no-scheduler`. Several schedulers may run: one ticks at a time.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from openrooms.jobs.heartbeat import release_all
from openrooms.jobs.scheduler import run_scheduler


class Command(BaseCommand):
    help = "Enqueues periodic background work (outbox retries, calendar pulls) until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every", type=float, default=settings.SCHEDULER_INTERVAL_SECONDS,
            help="Seconds between ticks (default: SCHEDULER_INTERVAL_SECONDS, %(default)s).",
        )

    def handle(self, *, every: float, **options: Any) -> None:
        self.stdout.write(f"Scheduler ticking every {every} s; Ctrl+C or SIGTERM to stop.")
        stop = threading.Event()

        def stop_after_this_tick(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop_after_this_tick)
        try:
            run_scheduler(every, stop)
        finally:
            release_all()  # a standby scheduler takes over at its next tick
