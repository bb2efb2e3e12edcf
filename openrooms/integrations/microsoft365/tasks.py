"""Background work for Microsoft 365, through Django's Tasks API (django-tasks backport).

Tasks are rows in the database (django-tasks-db) run by `openrooms worker`; any number of
workers may run. `schedule_periodic_work` is what the scheduler (in each worker, or
`openrooms scheduler`) does on every tick.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tasks import task

from openrooms.integrations.microsoft365 import inbound, outbox, services, webhooks

# A lifecycle task that finds another worker on the room's subscription tries again after this.
LIFECYCLE_RETRY = dt.timedelta(seconds=5)


@task()
def deliver_outbox(mailbox: str) -> int:
    """Delivers the mailbox's due outbox entries; enqueued when a booking change commits and
    by the scheduler for retries. Safe to run twice at once: entries are claimed one by one."""
    return outbox.deliver_due_entries(mailbox)


@task()
def pull_room_calendar(link_id: int) -> str:
    """Brings a linked room's Outlook meetings into bookings (calendarView/delta). Safe to run
    twice at once: a per-room lease lets one pull the room, the other returns "busy" and marks
    the room due, so the scheduler pulls it again after the first pull."""
    # From now on a change notification queues another pull: this one may read too early.
    webhooks.release_pull_claim(link_id)
    return webhooks.pull_now(link_id)


@task()
def manage_subscription(link_id: int) -> str:
    """Creates or renews the room's change-notification subscription; the scheduler enqueues
    it for the rooms `webhooks.rooms_needing_subscription_work` returns."""
    return webhooks.maintain_subscription(link_id)


@task()
def handle_lifecycle_event(link_id: int, subscription_id: str, event: str) -> str:
    """Does what a lifecycle notification asks (receiver.py enqueues it once verified):
    renew, recreate and resync, or pull. Tried again shortly while another worker is working
    on the room's subscription."""
    outcome = webhooks.handle_lifecycle_event(link_id, subscription_id, event)
    if outcome == "busy":
        handle_lifecycle_event.using(run_after=timezone.now() + LIFECYCLE_RETRY).enqueue(
            link_id, subscription_id, event
        )
    return outcome


def schedule_periodic_work(holder: str, *, interval: float) -> bool:
    """One scheduler tick: enqueues what is due. Returns False when another scheduler ticks.

    Only one scheduler ticks at a time (a lease it renews every tick, taken over after three
    missed ticks), so running a scheduler in every worker enqueues nothing twice.
    """
    if not outbox.acquire_lease("scheduler", holder, dt.timedelta(seconds=3 * interval)):
        return False
    # Due retries, and entries whose on-commit enqueue was lost (a crash right after commit);
    # a mailbox whose delivery is queued already is left to it (the `enqueued:` lease).
    for mailbox in outbox.mailboxes_with_due_entries():
        outbox.enqueue_delivery(mailbox)
    # Polling: each linked room every MICROSOFT_POLL_SECONDS, or, when Microsoft notifies us of
    # its changes, every MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS as a safety net.
    # A room whose pull is queued and not started yet gets no second one (the `pull-queued:`
    # lease): a slow queue does not fill up with pulls of the same rooms.
    for link_id in inbound.rooms_due_for_pull():
        webhooks.request_pull(link_id)
    # Change notifications need a public https address: subscriptions created and renewed.
    for link_id in webhooks.rooms_needing_subscription_work():
        manage_subscription.enqueue(link_id)
    if outbox.first_time_today("secret-expiry-warnings"):
        send_secret_expiry_warnings.enqueue()
    return True


@task()
def send_secret_expiry_warnings() -> int:
    """E-mails admins whose Azure app secret expires soon; the scheduler enqueues it daily."""
    return services.send_secret_expiry_warnings(timezone.localdate())
