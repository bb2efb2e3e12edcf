"""`openrooms scheduler`: enqueues periodic work (due outbox retries, room calendar pulls) every
few seconds.

`openrooms worker` runs the same loop in a thread, so a separate scheduler is only needed when
workers run with `--no-scheduler`. Several schedulers may run: one ticks at a time.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from openrooms.integrations.microsoft365.outbox import holder_id
from openrooms.integrations.microsoft365.tasks import schedule_periodic_work

logger = logging.getLogger("openrooms.scheduler")


def run_scheduler(interval: float, stop: threading.Event | None = None) -> None:
    """Ticks every `interval` seconds until `stop` is set; a failed tick is logged, not fatal."""
    stop = stop or threading.Event()
    holder = f"scheduler:{holder_id()}"
    while not stop.is_set():
        close_old_connections()
        try:
            schedule_periodic_work(holder, interval=interval)
        except Exception:
            logger.exception("The scheduler's tick failed; trying again in %s s", interval)
        stop.wait(interval)


class Command(BaseCommand):
    help = "Enqueues periodic background work (outbox retries, calendar pulls) until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every", type=float, default=settings.SCHEDULER_INTERVAL_SECONDS,
            help="Seconds between ticks (default: SCHEDULER_INTERVAL_SECONDS, %(default)s).",
        )

    def handle(self, *, every: float, **options: Any) -> None:
        self.stdout.write(f"Scheduler ticking every {every} s; Ctrl+C to stop.")
        with contextlib.suppress(KeyboardInterrupt):
            run_scheduler(every)
