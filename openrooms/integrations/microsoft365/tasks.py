"""Background work for Microsoft 365, through Django's Tasks API (django-tasks backport).

Tasks are rows in the database (django-tasks-db) run by `openrooms worker`; any number of
workers may run. `schedule_periodic_work` is what the scheduler (in each worker, or
`openrooms scheduler`) does on every tick.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tasks import task

from openrooms.integrations.microsoft365 import inbound, outbox, services


@task()
def deliver_outbox(mailbox: str) -> int:
    """Delivers the mailbox's due outbox entries; enqueued when a booking change commits and
    by the scheduler for retries. Safe to run twice at once: entries are claimed one by one."""
    return outbox.deliver_due_entries(mailbox)


@task()
def pull_room_calendar(link_id: int) -> str:
    """Brings a linked room's Outlook meetings into bookings (calendarView/delta). Safe to run
    twice at once: a per-room lease lets one pull the room, the other returns "busy"."""
    return inbound.pull_with_lease(link_id)


def schedule_periodic_work(holder: str, *, interval: float) -> bool:
    """One scheduler tick: enqueues what is due. Returns False when another scheduler ticks.

    Only one scheduler ticks at a time (a lease it renews every tick, taken over after three
    missed ticks), so running a scheduler in every worker enqueues nothing twice.
    """
    if not outbox.acquire_lease("scheduler", holder, dt.timedelta(seconds=3 * interval)):
        return False
    # Due retries, and entries whose on-commit enqueue was lost (a crash right after commit).
    for mailbox in outbox.mailboxes_with_due_entries():
        deliver_outbox.enqueue(mailbox)
    # Polling (webhooks are not there yet): each linked room every MICROSOFT_POLL_SECONDS.
    for link_id in inbound.rooms_due_for_pull():
        pull_room_calendar.enqueue(link_id)
    if outbox.first_time_today("secret-expiry-warnings"):
        send_secret_expiry_warnings.enqueue()
    return True


@task()
def send_secret_expiry_warnings() -> int:
    """E-mails admins whose Azure app secret expires soon; the scheduler enqueues it daily."""
    return services.send_secret_expiry_warnings(timezone.localdate())
