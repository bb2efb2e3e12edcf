"""Change notifications (webhooks) for the inbound sync: one Graph subscription per linked room.

When PUBLIC_BASE_URL is an https address, every linked room of a connected organisation gets a
subscription on `/users/{mailbox}/events` (created, updated, deleted). Graph POSTs each change
to receiver.py, which queues that room's delta pull (inbound/pull.py); polling then only runs as a
safety net, every MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS. Sources: graph-contract.md section 5,
Microsoft's "Receive change notifications through webhooks" and "Reduce missing subscriptions
and change notifications" (lifecycle notifications).

- A subscription asks for MICROSOFT_SUBSCRIPTION_MINUTES. Graph caps Outlook events at 7 days
  (4,230 minutes in older docs); when it answers "expiration can only be N minutes in the
  future", it is asked again once for N minutes less one (our clock may run ahead of Graph's).
- It is renewed (PATCH) once a third of the lifetime is left: about two days of a 7-day one,
  enough for retries through an outage and for an admin to fix the credentials
  (`subscription_error`) before it lapses; the third scales with a shorter configured lifetime.
- A renewal answered 404 means Graph no longer has it: recreated, and the room fully resynced.
- Lifecycle notifications: `reauthorizationRequired` is answered with the PATCH, which
  reauthorizes *and* renews (the docs warn not to also POST /reauthorize within 10 minutes);
  `subscriptionRemoved` with a new subscription and a full resync; `missed` with a pull now
  (a delta round reads every change since the last round, notified or not).
- `clientState` is a new random secret per subscription; the receiver compares it in constant
  time. Unlinking a room or disconnecting deletes the subscriptions at Microsoft, best effort.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from openrooms import crypto
from openrooms.accounts.models import Organisation
from openrooms.integrations.microsoft365.clients import client_for, connection_of, shared_client
from openrooms.integrations.microsoft365.explain import explain_subscription_failure
from openrooms.integrations.microsoft365.graph.client import GraphClient
from openrooms.integrations.microsoft365.graph.failures import GraphFailure
from openrooms.integrations.microsoft365.graph.replies import Subscription
from openrooms.integrations.microsoft365.inbound.pull import (
    connected_room_states,
    pull_now,
    request_pull,
)
from openrooms.integrations.microsoft365.models import (
    CalendarSyncState,
    Connection,
    RoomLink,
)
from openrooms.jobs.leases import (
    acquire_lease,
    clear_queued_mark,
    holder_id,
    lease_key,
    mark_queued,
    release_lease,
)

logger = logging.getLogger(__name__)

CHANGE_TYPES = "created,updated,deleted"
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
# secrets.token_urlsafe(48) is 64 characters; Graph accepts a clientState of up to 128.
CLIENT_STATE_BYTES = 48
# Graph's answer when the expiration asked for is past its cap for the resource.
LIFETIME_CAP = re.compile(r"can only be (\d+) minutes in the future", re.IGNORECASE)
# A room whose subscription could not be created or renewed is tried again after this long.
RETRY_AFTER_FAILURE = dt.timedelta(minutes=10)
# The scheduler's "work on this room's subscription is queued" mark: cleared when the task
# starts; if that task never runs (its worker died), the room is queued again after this.
WORK_QUEUED = dt.timedelta(minutes=5)
# Held while a worker creates, renews or recreates a room's subscription (Graph's validation
# request alone may take 10 s).
WORK_LEASE = dt.timedelta(minutes=2)
# A lifecycle task that finds another worker on the room's subscription tries again after this.
LIFECYCLE_RETRY = dt.timedelta(seconds=5)
# Unlink and disconnect wait for Microsoft this long at most, then leave the rest to expire.
DELETE_BUDGET_SECONDS = 10.0
DELETE_TIMEOUT_SECONDS = 5.0


# --- where Graph calls us ------------------------------------------------------------------


def webhooks_enabled() -> bool:
    """Graph only notifies https addresses: without one (PUBLIC_BASE_URL) the sync polls."""
    return settings.PUBLIC_BASE_URL.startswith("https://")


def notification_url() -> str:
    return settings.PUBLIC_BASE_URL + reverse("microsoft365_notifications")


def lifecycle_notification_url() -> str:
    return settings.PUBLIC_BASE_URL + reverse("microsoft365_lifecycle")


def lifetime() -> dt.timedelta:
    return dt.timedelta(minutes=settings.MICROSOFT_SUBSCRIPTION_MINUTES)


def renewal_margin() -> dt.timedelta:
    return lifetime() / 3


def is_live(state: CalendarSyncState, now: dt.datetime) -> bool:
    expires = state.subscription_expires_at
    return bool(state.subscription_id) and expires is not None and expires > now


def live_subscriptions(
    organisation: Organisation, now: dt.datetime | None = None
) -> QuerySet[CalendarSyncState]:
    """The organisation's rooms that Microsoft notifies of changes now."""
    return CalendarSyncState.objects.filter(
        link__organisation=organisation, subscription_expires_at__gt=now or timezone.now()
    ).exclude(subscription_id="")


# --- the scheduler's part ------------------------------------------------------------------


def rooms_needing_subscription_work(now: dt.datetime | None = None) -> list[int]:
    """Linked rooms of connected organisations whose subscription must be created (none yet,
    or expired) or renewed (a third of its lifetime left), except those that failed within
    RETRY_AFTER_FAILURE. Each room returned is marked queued, so the next ticks skip it until
    its `manage_subscription` task starts."""
    if not webhooks_enabled():
        return []
    now = now or timezone.now()
    due = (
        connected_room_states()
        .filter(
            Q(subscription_id="")
            | Q(subscription_expires_at__isnull=True)
            | Q(subscription_expires_at__lte=now + renewal_margin())
        )
        .exclude(subscription_error_at__gt=now - RETRY_AFTER_FAILURE)
        .values_list("link_id", flat=True)
    )
    return [
        link_id for link_id in due
        if mark_queued(lease_key("subscription_queued", link_id=link_id), WORK_QUEUED)
    ]


@contextmanager
def subscription_lease(link_id: int) -> Iterator[bool]:
    """One worker at a time creates, renews or recreates a room's subscription: two would
    leave Graph with a subscription nobody knows the clientState of."""
    holder, key = holder_id(), lease_key("subscription", link_id=link_id)
    held = acquire_lease(key, holder, WORK_LEASE)
    try:
        yield held
    finally:
        if held:
            release_lease(key, holder)


@contextmanager
def graph_client_of(state: CalendarSyncState, organisation_id: int) -> Iterator[GraphClient | None]:
    """The organisation's client, or None (with the reason on the room's state) when it has
    no connection or its secret cannot be read."""
    connection = connection_of(organisation_id)
    if connection is None:
        yield None
        return
    try:
        client = shared_client(connection)
    except crypto.SecretUnreadable as error:
        record_subscription_failure(state, str(error))
        yield None
        return
    yield client


@task()
def manage_subscription(link_id: int) -> str:
    """Creates or renews the room's change-notification subscription; the scheduler enqueues
    it for the rooms `rooms_needing_subscription_work` returns."""
    return maintain_subscription(link_id)


def maintain_subscription(link_id: int) -> str:
    """Creates the room's subscription when it has none (or it expired), renews it when a
    third of its lifetime is left."""
    clear_queued_mark(lease_key("subscription_queued", link_id=link_id))
    if not webhooks_enabled():
        return "webhooks off"
    link = RoomLink.objects.filter(pk=link_id).first()
    if link is None:
        return "unlinked"
    with subscription_lease(link_id) as held:
        if not held:
            return "busy"
        state, _ = CalendarSyncState.objects.get_or_create(link=link)
        now = timezone.now()
        expires = state.subscription_expires_at
        if is_live(state, now) and expires is not None and expires - now > renewal_margin():
            return "ok"
        with graph_client_of(state, link.organisation_id) as client:
            if client is None:
                return "not connected"
            if is_live(state, now):
                return renew_subscription(link, state, client)
            outcome = create_subscription(link, state, client)
            if outcome == "created":
                # Changes between the room's last pull and now came with no notification.
                request_pull(link_id)
            return outcome


@task()
def handle_lifecycle_event(link_id: int, subscription_id: str, event: str) -> str:
    """Does what a lifecycle notification asks (receiver.py enqueues it once verified):
    renew, recreate and resync, or pull. Tried again shortly while another worker is working
    on the room's subscription."""
    outcome = follow_lifecycle_event(link_id, subscription_id, event)
    if outcome == "busy":
        handle_lifecycle_event.using(run_after=timezone.now() + LIFECYCLE_RETRY).enqueue(
            link_id, subscription_id, event
        )
    return outcome


def follow_lifecycle_event(link_id: int, subscription_id: str, event: str) -> str:
    """What a lifecycle notification asks for (the receiver verified its clientState).
    "busy" when another worker works on the room's subscription."""
    link = RoomLink.objects.filter(pk=link_id).first()
    if link is None:
        return "unlinked"
    if event == "missed":
        return pull_now(link_id)
    if event not in LIFECYCLE_EVENTS:
        return "ignored"
    with subscription_lease(link_id) as held:
        if not held:
            return "busy"
        state = CalendarSyncState.objects.filter(link=link).first()
        if state is None or state.subscription_id != subscription_id:
            return "stale"  # the room has another subscription by now
        with graph_client_of(state, link.organisation_id) as client:
            if client is None:
                return "not connected"
            if event == "reauthorizationRequired":
                return renew_subscription(link, state, client)
            return recreate_and_resync(link, state, client)


# --- Graph calls ---------------------------------------------------------------------------


def create_subscription(link: RoomLink, state: CalendarSyncState, client: GraphClient) -> str:
    """A new subscription on the room's events, with a new clientState. "created", or the
    error (also stored on the room's state for admins)."""
    client_state = secrets.token_urlsafe(CLIENT_STATE_BYTES)
    try:
        subscription = with_allowed_lifetime(
            lambda expiration: client.create_subscription(
                mailbox=link.mailbox,
                notification_url=notification_url(),
                lifecycle_notification_url=lifecycle_notification_url(),
                expiration=expiration,
                client_state=client_state,
                change_type=CHANGE_TYPES,
            )
        )
    except GraphFailure as failure:
        logger.warning("Subscribing to the calendar of %s failed: %s", link.mailbox, failure)
        return record_subscription_failure(
            state, explain_subscription_failure(failure, notification_url())
        )
    CalendarSyncState.objects.filter(pk=state.pk).update(
        subscription_id=subscription.id,
        subscription_expires_at=subscription.expiration_date_time,
        subscription_client_state=client_state,
        subscription_error="",
        subscription_error_at=None,
    )
    return "created"


def renew_subscription(link: RoomLink, state: CalendarSyncState, client: GraphClient) -> str:
    """PATCHes a new expiry (which also reauthorizes). Graph answering 404 means it dropped
    the subscription: it is recreated and the room resynced."""
    try:
        subscription = with_allowed_lifetime(
            lambda expiration: client.renew_subscription(state.subscription_id, expiration)
        )
    except GraphFailure as failure:
        if failure.status == 404:
            logger.info("The subscription of %s is gone: recreating it", link.mailbox)
            return recreate_and_resync(link, state, client)
        logger.warning("Renewing the subscription of %s failed: %s", link.mailbox, failure)
        return record_subscription_failure(
            state, explain_subscription_failure(failure, notification_url())
        )
    CalendarSyncState.objects.filter(pk=state.pk).update(
        subscription_expires_at=subscription.expiration_date_time,
        subscription_error="",
        subscription_error_at=None,
    )
    return "renewed"


def recreate_and_resync(link: RoomLink, state: CalendarSyncState, client: GraphClient) -> str:
    """Graph removed the subscription: what changed since went unnotified. A new subscription,
    then a full sync (a blank delta link makes the next pull one), queued at once."""
    CalendarSyncState.objects.filter(pk=state.pk).update(
        subscription_id="", subscription_client_state="", subscription_expires_at=None,
        delta_link="",
    )
    outcome = create_subscription(link, state, client)
    request_pull(link.pk)
    return "recreated" if outcome == "created" else outcome


def with_allowed_lifetime(send: Callable[[dt.datetime], Subscription]) -> Subscription:
    """Sends with an expiry MICROSOFT_SUBSCRIPTION_MINUTES ahead; when Graph answers that it
    can only be N minutes in the future, sends once more with N minutes less one."""
    try:
        return send(timezone.now() + lifetime())
    except GraphFailure as failure:
        allowed = allowed_minutes(failure)
        if allowed is None:
            raise
        return send(timezone.now() + dt.timedelta(minutes=max(allowed - 1, 1)))


def allowed_minutes(failure: GraphFailure) -> int | None:
    found = LIFETIME_CAP.search(failure.message) if failure.status == 400 else None
    return int(found[1]) if found else None


def record_subscription_failure(state: CalendarSyncState, error: str) -> str:
    CalendarSyncState.objects.filter(pk=state.pk).update(
        subscription_error=error, subscription_error_at=timezone.now()
    )
    return error


# --- unlink and disconnect -----------------------------------------------------------------


def drop_subscription_after_commit(link: RoomLink) -> None:
    """The room is being unlinked: its subscription is deleted at Microsoft once that commits."""
    state = CalendarSyncState.objects.filter(link=link).exclude(subscription_id="").first()
    connection = connection_of(link.organisation_id)
    if state is not None and connection is not None:
        transaction.on_commit(
            partial(delete_subscriptions_quietly, connection, [state.subscription_id])
        )


def drop_subscriptions_of(organisation: Organisation) -> None:
    """Before the credentials are forgotten: every subscription of the organisation's rooms is
    deleted at Microsoft (best effort) and forgotten here, so notifications still on their way
    are refused."""
    states = CalendarSyncState.objects.filter(link__organisation=organisation).exclude(
        subscription_id=""
    )
    subscription_ids = list(states.values_list("subscription_id", flat=True))
    states.update(subscription_id="", subscription_client_state="", subscription_expires_at=None)
    connection = connection_of(organisation)
    if connection is not None and subscription_ids:
        delete_subscriptions_quietly(connection, subscription_ids)


def delete_subscriptions_quietly(connection: Connection, subscription_ids: list[str]) -> int:
    """DELETEs the subscriptions for at most DELETE_BUDGET_SECONDS; returns how many are gone.
    Failures are logged, never raised: the admin's unlink or disconnect goes on, Graph drops a
    subscription at its expiry anyway, and its notifications meanwhile are refused (403)."""
    deadline = time.monotonic() + DELETE_BUDGET_SECONDS
    try:
        client = client_for(connection, max_attempts=1)
    except Exception:
        logger.exception("Cannot delete %d subscriptions", len(subscription_ids))
        return 0
    gone = 0
    with client:
        client.http.timeout = httpx.Timeout(DELETE_TIMEOUT_SECONDS)  # the admin is waiting
        for index, subscription_id in enumerate(subscription_ids):
            if time.monotonic() > deadline:
                logger.warning("%d subscriptions left to expire on their own",
                               len(subscription_ids) - index)
                break
            try:
                client.delete_subscription(subscription_id)
            except GraphFailure as failure:
                if failure.status != 404:
                    logger.warning("Deleting subscription %s failed: %s", subscription_id,
                                   failure)
                    continue
            except Exception:
                logger.exception("Deleting subscription %s failed", subscription_id)
                continue
            gone += 1
    return gone


# --- notifications -------------------------------------------------------------------------


def verified_rooms(claims: list[tuple[str, str | None]]) -> dict[str, int] | None:
    """The linked room of each (subscriptionId, clientState) a notification names, or None
    when any subscription is unknown or its clientState is not the one it was given."""
    ids = {subscription_id for subscription_id, _ in claims if subscription_id}
    known = {
        subscription_id: (secret, link_id)
        for subscription_id, secret, link_id in CalendarSyncState.objects.filter(
            subscription_id__in=ids
        ).values_list("subscription_id", "subscription_client_state", "link_id")
    }
    for subscription_id, client_state in claims:
        secret, _ = known.get(subscription_id, ("", 0))
        # Constant time: how much of a guess matched must not show in the answer's timing.
        if not secret or client_state is None or not hmac.compare_digest(
            client_state.encode(), secret.encode()
        ):
            return None
    return {subscription_id: known[subscription_id][1] for subscription_id in ids}
