"""Leases and queued marks: named rights to do some work for a while, across every worker.

A lease is a `WorkLease` row taken with a conditional UPDATE, so however many worker processes
run, on however many machines, one holds it; a holder that dies loses it when it expires. A
*queued mark* is a lease that says "this task is queued and has not started": it keeps a slow
queue from filling up with copies of the same task.

Every key there is, in one table, so two kinds of work never share one by accident:
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import threading
from collections.abc import Callable

from django.db.models import Q
from django.utils import timezone

from openrooms.jobs.models import WorkLease

KEYS = {
    # The one scheduler that ticks, however many run (jobs.scheduler).
    "scheduler": "scheduler",
    # A daily job enqueued today (first_time_today).
    "daily": "daily:{job}:{day}",
    # A delivery to a mailbox in flight: a few slots per mailbox (microsoft365.outbound).
    "mailbox_slot": "mailbox:{mailbox}:{slot}",
    # A delivery of the mailbox's outbox entries is queued (microsoft365.outbound).
    "delivery_queued": "enqueued:{mailbox}",
    # A pull of a room's calendar runs, or is queued (microsoft365.inbound).
    "pull": "pull:{link_id}",
    "pull_queued": "pull-queued:{link_id}",
    # Work on a room's change-notification subscription runs, or is queued
    # (microsoft365.subscriptions).
    "subscription": "subscription:{link_id}",
    "subscription_queued": "subscription-queued:{link_id}",
}


def lease_key(kind: str, **parts: object) -> str:
    """The key of a lease of `kind` (a name in KEYS), e.g. lease_key("pull", link_id=3)."""
    return KEYS[kind].format(**parts)


# Tells this process from an earlier one with the same host name and pid (containers).
PROCESS_TOKEN = secrets.token_hex(4)


def process_id() -> str:
    """This process, told apart from any other on any machine; every holder_id starts with it."""
    return f"{socket.gethostname()}:{os.getpid()}:{PROCESS_TOKEN}:"


def holder_id() -> str:
    """Who holds a claim: this process and thread (a worker runs one task at a time)."""
    return f"{process_id()}{threading.get_ident()}"


def acquire_lease(key: str, holder: str, length: dt.timedelta) -> bool:
    """Takes (or extends, for its holder) the lease `key`; False while someone else holds it.

    The conditional UPDATE is the lock: PostgreSQL re-checks its WHERE clause after waiting
    for a concurrent writer of the row, SQLite runs one writer at a time.
    """
    now = timezone.now()
    WorkLease.objects.get_or_create(key=key, defaults={"expires_at": now})
    taken = (
        WorkLease.objects.filter(key=key)
        .filter(Q(expires_at__lte=now) | Q(holder=holder))
        .update(holder=holder, expires_at=now + length)
    )
    return taken == 1


def release_lease(key: str, holder: str) -> None:
    WorkLease.objects.filter(key=key, holder=holder).update(holder="", expires_at=timezone.now())


def leases_held(prefix: str, now: dt.datetime | None = None) -> list[str]:
    """The keys starting with `prefix` that someone holds now."""
    return list(
        WorkLease.objects.filter(key__startswith=prefix, expires_at__gt=now or timezone.now())
        .values_list("key", flat=True)
    )


def first_time_today(job: str) -> bool:
    """True for the first caller of the day, whichever process: the row's key is unique."""
    key = lease_key("daily", job=job, day=timezone.localdate().isoformat())
    _, created = WorkLease.objects.get_or_create(key=key, defaults={"expires_at": timezone.now()})
    return created


def enqueue_once(key: str, length: dt.timedelta, enqueue: Callable[[], object]) -> bool:
    """Calls `enqueue` unless the mark `key` says the same task is queued and not started yet;
    False when it is. The task clears the mark as it starts (`clear_queued_mark`); a task that
    never starts (its worker died, the queue was purged) lets go of it after `length`. When
    `enqueue` raises, the mark is released and the error goes to the caller."""
    mark = secrets.token_hex(8)  # a new holder each time: only a free or stale mark is taken
    if not acquire_lease(key, mark, length):
        return False
    try:
        enqueue()
    except Exception:
        release_lease(key, mark)
        raise
    return True


def mark_queued(key: str, length: dt.timedelta) -> bool:
    """Sets the queued mark `key` unless it is set: True when this caller set it (and so
    should enqueue the task)."""
    return acquire_lease(key, secrets.token_hex(8), length)


def clear_queued_mark(key: str) -> None:
    """The queued task is starting: work asked for from now on is queued anew, as this task
    may have looked before it."""
    now = timezone.now()
    WorkLease.objects.filter(key=key, expires_at__gt=now).update(holder="", expires_at=now)
