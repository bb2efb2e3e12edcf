"""`openrooms scheduler`: enqueues every app's periodic work every few seconds.

The periodic work: outbox retries, room calendar pulls, subscription renewals, daily e-mails.

`openrooms worker` runs the same loop in a thread, so a separate scheduler is only needed when
workers run with `--no-scheduler`. Several schedulers may run: one ticks at a time.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from openrooms.jobs.scheduler import run_scheduler


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
