"""The Microsoft 365 sync's periodic work: what every scheduler tick enqueues (jobs.periodic).

- deliveries: due outbox retries, and entries whose on-commit enqueue was lost (a crash right
  after commit); a mailbox whose delivery is queued already is left to it;
- pulls: each linked room every MICROSOFT_POLL_SECONDS, or, when Microsoft notifies us of its
  changes, every MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS as a safety net; a room whose pull is
  queued and not started yet gets no second one;
- subscriptions: created and renewed, when the installation has a public https address;
- once a day, the client-secret expiry e-mails.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from openrooms.integrations.microsoft365.connection import send_secret_expiry_warnings
from openrooms.integrations.microsoft365.inbound.pull import connected_room_states, request_pull
from openrooms.integrations.microsoft365.models import CalendarSyncState
from openrooms.integrations.microsoft365.outbound import (
    enqueue_delivery,
    mailboxes_with_due_entries,
)
from openrooms.integrations.microsoft365.subscriptions import (
    manage_subscription,
    rooms_needing_subscription_work,
    webhooks_enabled,
)
from openrooms.jobs.leases import first_time_today
from openrooms.jobs.periodic import register_periodic


def register() -> None:
    """Adds the sync's work to every scheduler tick (the app's `ready`)."""
    register_periodic("microsoft365: outbox deliveries", enqueue_due_deliveries)
    register_periodic("microsoft365: room calendar pulls", enqueue_due_pulls)
    register_periodic("microsoft365: subscriptions", enqueue_subscription_work)
    register_periodic("microsoft365: secret expiry e-mails", enqueue_expiry_warnings)


def enqueue_due_deliveries() -> None:
    for mailbox in mailboxes_with_due_entries():
        enqueue_delivery(mailbox)


def enqueue_due_pulls() -> None:
    for link_id in rooms_due_for_pull():
        request_pull(link_id)


def enqueue_subscription_work() -> None:
    for link_id in rooms_needing_subscription_work():
        manage_subscription.enqueue(link_id)


def enqueue_expiry_warnings() -> None:
    if first_time_today("secret-expiry-warnings"):
        send_secret_expiry_warnings.enqueue()


def rooms_due_for_pull(now: dt.datetime | None = None) -> list[int]:
    """Linked rooms of connected organisations whose next pull is due; each is then not due
    again for MICROSOFT_POLL_SECONDS, or MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS when Microsoft
    notifies us of its changes (a live subscription: polling is only a safety net then)."""
    if settings.MICROSOFT_POLL_SECONDS <= 0:
        return []  # polling turned off
    now = now or timezone.now()
    due = list(
        connected_room_states()
        .filter(Q(next_pull_at__isnull=True) | Q(next_pull_at__lte=now))
        .values_list("pk", "link_id", "subscription_id", "subscription_expires_at")
    )
    webhooks = webhooks_enabled()
    notified = {
        pk for pk, _, subscription, expires in due
        if webhooks and subscription and expires is not None and expires > now
    }
    for pks, seconds in (
        (notified, settings.MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS),
        ({pk for pk, *_ in due} - notified, settings.MICROSOFT_POLL_SECONDS),
    ):
        if pks:
            CalendarSyncState.objects.filter(pk__in=pks).update(
                next_pull_at=now + dt.timedelta(seconds=seconds)
            )
    return [link_id for _, link_id, *_ in due]
