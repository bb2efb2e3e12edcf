"""What a load balancer and an operator ask of a running instance: alive, and ready.

Alive (`/healthz`) asks nothing of the database. Ready (`/readyz`) is not ready (503) when the
database cannot be reached or the migrations this code needs are not applied: the web could not
serve. A missing worker or an old undelivered change is reported (`degraded`), not made a 503:
the pages still work, and a balancer taking every web process out for it would make it worse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from openrooms.integrations.microsoft365.outbound import oldest_undelivered_age
from openrooms.jobs.heartbeat import workers_alive

# Past this, an undelivered change is worth an operator's look (retries back off up to an hour).
UNDELIVERED_TOO_LONG = dt.timedelta(minutes=15)

migrations_applied_once = False


@dataclass(frozen=True)
class Readiness:
    status: str  # ready, degraded or not_ready
    database: bool
    migrations_applied: bool
    workers_alive: int
    oldest_undelivered_seconds: float | None
    problems: list[str]

    @property
    def http_status(self) -> int:
        return 503 if self.status == "not_ready" else 200

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


def migrations_applied() -> bool:
    """True once nothing this code knows is left to migrate (remembered: it stays true)."""
    global migrations_applied_once
    if not migrations_applied_once:
        executor = MigrationExecutor(connection)
        migrations_applied_once = not executor.migration_plan(
            executor.loader.graph.leaf_nodes()
        )
    return migrations_applied_once


def readiness(now: dt.datetime | None = None) -> Readiness:
    now = now or timezone.now()
    if not database_reachable():
        return Readiness("not_ready", False, False, 0, None, ["The database cannot be reached."])
    if not migrations_applied():
        return Readiness("not_ready", True, False, 0, None,
                         ["Migrations are not applied: run `openrooms migrate`."])
    problems = []
    workers = workers_alive(now)
    if not workers:
        problems.append("No worker seen in the last minute: run `openrooms worker`.")
    age = oldest_undelivered_age(now=now)
    if age is not None and age > UNDELIVERED_TOO_LONG:
        problems.append(f"A change has waited {int(age.total_seconds() // 60)} minutes for "
                        "Outlook: see Sync health.")
    return Readiness(
        "degraded" if problems else "ready", True, True, workers,
        None if age is None else round(age.total_seconds(), 1), problems,
    )
