"""Worker heartbeats: a running worker keeps its claims alive, so a dead one's lapse fast.

Every claim (a lease, an outbox entry's claim) lasts settings.WORK_CLAIM_SECONDS (60). A
worker's heartbeat thread extends every claim its process holds four times as often, so a claim
outlives its work however long that takes, and a worker killed with SIGKILL stops extending:
its claims are taken over within a minute. Apps register what else their workers claim
(`register_claims`). The beat also records the worker in `WorkerHeartbeat`, which readiness
reads; a worker that stops on SIGTERM releases its claims and its row at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from openrooms.jobs.leases import process_id
from openrooms.jobs.models import WorkerHeartbeat, WorkLease

logger = logging.getLogger(__name__)


# (extend, release): each called with this process's holder prefix and, to extend, the new end.
ClaimKeeper = tuple[Callable[[str, dt.datetime], int], Callable[[str], int]]
keepers: list[ClaimKeeper] = []


def register_claims(extend: Callable[[str, dt.datetime], int],
                    release: Callable[[str], int]) -> None:
    """Adds what an app claims outside the lease table (outbox entries, say) to every beat."""
    keepers.append((extend, release))


def claim_length() -> dt.timedelta:
    return dt.timedelta(seconds=settings.WORK_CLAIM_SECONDS)


def heartbeat_every() -> float:
    return settings.WORK_CLAIM_SECONDS / 4


def extend_leases(prefix: str, until: dt.datetime) -> int:
    return WorkLease.objects.filter(
        holder__startswith=prefix, expires_at__gt=timezone.now()
    ).update(expires_at=until)


def release_leases(prefix: str) -> int:
    return WorkLease.objects.filter(holder__startswith=prefix).update(
        holder="", expires_at=timezone.now()
    )


def beat(prefix: str | None = None) -> None:
    """Extends every claim of this process and says it is alive."""
    prefix = prefix or process_id()
    now = timezone.now()
    until = now + claim_length()
    extend_leases(prefix, until)
    for extend, _ in keepers:
        extend(prefix, until)
    WorkerHeartbeat.objects.update_or_create(
        process=prefix, defaults={"seen_at": now}, create_defaults={"started_at": now,
                                                                    "seen_at": now},
    )


def release_all(prefix: str | None = None) -> None:
    """Lets go of every claim of this process (it is stopping) and of its heartbeat row."""
    prefix = prefix or process_id()
    release_leases(prefix)
    for _, release in keepers:
        release(prefix)
    WorkerHeartbeat.objects.filter(process=prefix).delete()


def run_heartbeat(stop: threading.Event) -> None:
    """The worker's heartbeat thread: beats until `stop` is set."""
    every = heartbeat_every()
    while True:
        try:
            beat()
        except Exception:
            logger.exception("Worker heartbeat failed; trying again")
        finally:
            close_old_connections()
        if stop.wait(every):
            return


# A worker beats every quarter of a claim (15 s by default): one unseen for a minute is gone.
ALIVE_WITHIN = dt.timedelta(minutes=1)


def workers_alive(now: dt.datetime | None = None) -> int:
    """Worker processes that beat in the last minute, on every machine."""
    return WorkerHeartbeat.objects.filter(
        seen_at__gte=(now or timezone.now()) - ALIVE_WITHIN
    ).count()
