"""`openrooms serve`: the production web server (gunicorn, threads), static files included."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from openrooms.operations.serving import (
    ProductionServer,
    default_bind,
    default_threads,
    default_workers,
    server_options,
)


class Command(BaseCommand):
    help = "Serves openrooms for real: gunicorn with threaded workers, until SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind", default=default_bind(),
            help="HOST:PORT to listen on (default 127.0.0.1:8000, or 0.0.0.0:$PORT).",
        )
        parser.add_argument(
            "--workers", type=int, default=default_workers(),
            help="Processes (default $WEB_CONCURRENCY, else one per core, at least 2).",
        )
        parser.add_argument(
            "--threads", type=int, default=default_threads(),
            help="Threads per process (default $WEB_THREADS, else 4).",
        )
        parser.add_argument(
            "--no-collectstatic", action="store_true",
            help="Do not gather static files first (they are served from STATIC_ROOT).",
        )

    def handle(
        self, *, bind: str, workers: int, threads: int, no_collectstatic: bool, **options: Any
    ) -> None:
        if not no_collectstatic:
            call_command("collectstatic", interactive=False, verbosity=0)
        ProductionServer(server_options(bind, workers, threads)).run()
