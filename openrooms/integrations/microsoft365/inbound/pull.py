"""Pulling a room's calendar: one round of `calendarView/delta`, and where each room stands.

A round follows the contract, section 4; where each room stands is kept in its
`CalendarSyncState`.

- The first round, a round after `410` / `syncStateNotFound`, and a round once the window is a
  day old are *full* syncs over [now - MICROSOFT_SYNC_DAYS_BACK, now + ..._DAYS_AHEAD]; a full
  sync reconciles: the room's Outlook bookings in the window it did not see are cancelled.
- Other rounds follow the stored delta link (it carries the window: nothing is sent again).
- Items may be replayed or lie outside the window: each is filtered and upserted by its id,
  so applying one twice changes nothing; a round that fails keeps the old link and is replayed.
- After a round, bookings made here in the booker's calendar learn what the room answered.

A pull runs as the `pull_room_calendar` task, one worker per room at a time (a lease);
`request_pull` queues one unless one is queued and not started yet. Pages are asked for
DELTA_PAGE_SIZE at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django_tasks import task

from openrooms import crypto
from openrooms.bookings.models import Booking
from openrooms.bookings.outlook import do_mark_declined, do_record_room_accepted
from openrooms.integrations.microsoft365.clients import connection_of, shared_client
from openrooms.integrations.microsoft365.explain import UNREADABLE_KEY_FIX, describe
from openrooms.integrations.microsoft365.graph.client import GraphClient
from openrooms.integrations.microsoft365.graph.failures import GraphFailure
from openrooms.integrations.microsoft365.inbound.meetings import (
    BULK_FROM_ITEMS,
    apply_items,
    remove_unseen,
)
from openrooms.integrations.microsoft365.models import (
    CalendarSyncState,
    OutboxEntry,
    RoomLink,
)
from openrooms.integrations.microsoft365.room_mailboxes import (
    check_room_mailbox,
    flag_if_on_premises,
    problem_text,
)
from openrooms.jobs.heartbeat import claim_length
from openrooms.jobs.leases import (
    acquire_lease,
    clear_queued_mark,
    enqueue_once,
    holder_id,
    lease_key,
    release_lease,
)

logger = logging.getLogger(__name__)

# Microsoft documents no maximum `odata.maxpagesize` for calendarView/delta (event-delta and
# "Get incremental changes to events in a calendar view" only say it sets the most events a
# page holds; the paging guide says each API caps its own). The documented cap of Outlook
# collections is 1000 ($top of List messages). Graph may still send smaller pages: the round
# follows @odata.nextLink whatever size comes.
DELTA_PAGE_SIZE = 1000
# The longest a failing room's pull waits for its next try (seconds), see record_pull_failure.
PULL_BACKOFF_TRANSIENT = 300.0
PULL_BACKOFF_PERMANENT = 3600.0
# "A pull of this room is queued": notifications meanwhile need no other pull.
PULL_QUEUED = dt.timedelta(seconds=60)


@dataclass
class PullResult:
    full: bool = False
    restarted: bool = False  # Graph lost the sync state (410): a full sync was run instead
    applied: int = 0
    removed: int = 0
    reconciled: int = 0
    error: str = ""


# --- the window ----------------------------------------------------------------------------


def sync_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a full sync started at `now`, on whole hours (stable across retries)."""
    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return (
        hour - dt.timedelta(days=settings.MICROSOFT_SYNC_DAYS_BACK),
        hour + dt.timedelta(days=settings.MICROSOFT_SYNC_DAYS_AHEAD),
    )


def needs_full_sync(state: CalendarSyncState, now: dt.datetime) -> bool:
    if not state.delta_link or state.window_start is None or state.last_full_sync_at is None:
        return True
    age = now - state.last_full_sync_at
    return age > dt.timedelta(hours=settings.MICROSOFT_SYNC_WINDOW_REFRESH_HOURS)


def is_sync_reset(failure: GraphFailure) -> bool:
    return failure.status == 410 or failure.code.lower() == "syncstatenotfound"


# --- pulling -------------------------------------------------------------------------------


def pull_room(
    link: RoomLink, *, client: GraphClient | None = None, now: dt.datetime | None = None
) -> PullResult:
    """Brings the room's Outlook meetings into bookings; a failure is stored on its state."""
    now = now or timezone.now()
    state, _ = CalendarSyncState.objects.get_or_create(link=link)
    CalendarSyncState.objects.filter(pk=state.pk).update(last_pull_at=now)
    connection = connection_of(link.organisation_id)
    if connection is None:
        return PullResult(error="Microsoft 365 is not connected.")
    try:
        client = client or shared_client(connection)
        check_room_mailbox(link, client, now=now)
        if link.mailbox_problem:
            return record_pull_failure(state, problem_text(link), now=now, permanent=True)
        try:
            result = run_round(link, state, client, now=now, full=needs_full_sync(state, now))
        except GraphFailure as failure:
            if not is_sync_reset(failure):
                raise
            logger.info("Delta state of %s lost (%s): full sync", link.mailbox, failure)
            result = run_round(link, state, client, now=now, full=True)
            result.restarted = True
        learn_room_answers(link, client, now=now)
    except GraphFailure as failure:
        logger.warning("Pulling the calendar of %s failed: %s", link.mailbox, failure)
        if flag_if_on_premises(link, failure):
            return record_pull_failure(state, problem_text(link), now=now, permanent=True)
        return record_pull_failure(
            state, describe(failure), now=now, permanent=failure.permanent
        )
    except crypto.SecretUnreadable as error:
        return record_pull_failure(state, f"{error} {UNREADABLE_KEY_FIX}", now=now,
                                   permanent=True)
    except Exception as error:
        # A bug must not hide: the room's sync state shows it to admins, the next pull retries.
        logger.exception("Pulling the calendar of %s failed", link.mailbox)
        return record_pull_failure(
            state, f"Unexpected error: {error!r}", now=now, permanent=True
        )
    return result


def record_pull_failure(
    state: CalendarSyncState, error: str, *, now: dt.datetime, permanent: bool
) -> PullResult:
    """Keeps the error where admins see it; the delta link stays, so the next pull replays.
    Pulls that keep failing wait longer: up to an hour when a person must act (a revoked
    consent, a mailbox Graph cannot reach), so such a room is not asked every minute; up to
    PULL_BACKOFF_TRANSIENT when Graph is throttling or down, so a room catches up within
    minutes of Graph coming back."""
    failures = state.failures + 1
    cap = PULL_BACKOFF_PERMANENT if permanent else PULL_BACKOFF_TRANSIENT
    wait = min(settings.MICROSOFT_POLL_SECONDS * 2 ** min(failures - 1, 10), cap)
    CalendarSyncState.objects.filter(pk=state.pk).update(
        last_error=error, last_error_at=now, failures=failures,
        next_pull_at=now + dt.timedelta(seconds=max(wait, settings.MICROSOFT_POLL_SECONDS)),
    )
    return PullResult(error=error)


def run_round(
    link: RoomLink, state: CalendarSyncState, client: GraphClient, *, now: dt.datetime,
    full: bool,
) -> PullResult:
    result = PullResult(full=full)
    if full:
        window = sync_window(now)
        pages = client.calendar_delta(
            link.mailbox, start=window[0], end=window[1], page_size=DELTA_PAGE_SIZE
        )
    else:
        assert state.window_start is not None and state.window_end is not None
        window = (state.window_start, state.window_end)
        pages = client.calendar_delta(
            link.mailbox, delta_link=state.delta_link, page_size=DELTA_PAGE_SIZE
        )
    organisation = link.organisation
    seen: set[str] = set()
    delta_link = ""
    for page in pages:  # one page in memory at a time
        # A page of a full round, or a big one, at once; a change or two, item by item.
        together = full or len(page.items) >= BULK_FROM_ITEMS
        for items in [page.items] if together else [[item] for item in page.items]:
            outcome = apply_items(link, organisation, items, window)
            result.applied += outcome.applied
            result.removed += outcome.removed
        seen.update(item.id for item in page.items if not item.is_removed)
        delta_link = page.delta_link or delta_link
    if full:
        result.reconciled = remove_unseen(link, seen, window)
    changes = {
        "delta_link": delta_link, "window_start": window[0], "window_end": window[1],
        "last_success_at": now, "last_error": "", "failures": 0,
    }
    if full:
        changes["last_full_sync_at"] = now
    CalendarSyncState.objects.filter(pk=state.pk).update(**changes)
    return result


def learn_room_answers(link: RoomLink, client: GraphClient, *, now: dt.datetime) -> None:
    """Asks the organizer's event what the room answered, for bookings made here in the
    booker's calendar the room has not accepted yet (a declined one leaves no room copy)."""
    waiting = Booking.objects.filter(
        space_id=link.space_id, source=Booking.Source.APP, status=Booking.Status.CONFIRMED,
        room_response="", end__gt=now,
    ).exclude(graph_event_id="")
    room = link.mailbox.lower()
    for booking in waiting:
        entries = OutboxEntry.objects.filter(booking=booking)
        last = entries.order_by("-sequence").first()
        if last is None or last.mailbox == room:
            continue  # written in the room's calendar: no booking assistant answers
        if entries.filter(state__in=OutboxEntry.OPEN_STATES).exists():
            continue  # a change is on its way; the room answers that one
        try:
            event = client.event_attendees(last.mailbox, booking.graph_event_id)
        except GraphFailure as failure:
            if failure.status == 404:
                continue
            raise
        answer = event.response_of(room)
        if answer == "accepted":
            do_record_room_accepted(booking)
        elif answer == "declined":
            do_mark_declined(booking)


# --- running pulls -------------------------------------------------------------------------


@task()
def pull_room_calendar(link_id: int) -> str:
    """Brings a linked room's Outlook meetings into bookings (calendarView/delta). Safe to run
    twice at once: a per-room lease lets one pull the room, the other returns "busy" and marks
    the room due, so the scheduler pulls it again after the first pull."""
    # From now on a change notification queues another pull: this one may read too early.
    clear_queued_mark(lease_key("pull_queued", link_id=link_id))
    return pull_now(link_id)


def request_pull(link_id: int) -> None:
    """Queues a pull of the room's calendar, unless one is queued and not started yet: that
    one reads this change too (a burst of notifications makes one pull, not one each)."""
    try:
        enqueue_once(lease_key("pull_queued", link_id=link_id), PULL_QUEUED,
                     partial(pull_room_calendar.enqueue, link_id))
    except Exception:
        mark_due(link_id)
        logger.exception("Could not enqueue the pull of room link %s; the scheduler will",
                         link_id)


def pull_now(link_id: int) -> str:
    """Pulls the room's calendar. When another worker is pulling it, the room is marked due, so
    the scheduler pulls it again after that pull: it may have read the calendar before the
    change that queued this one."""
    outcome = pull_with_lease(link_id)
    if outcome == "busy":
        mark_due(link_id)
    return outcome


def pull_with_lease(link_id: int) -> str:
    """Pulls the room unless another worker is pulling it now (a per-room lease)."""
    holder = holder_id()
    key = lease_key("pull", link_id=link_id)
    length = claim_length()
    link = RoomLink.objects.select_related("organisation", "space__office").filter(
        pk=link_id
    ).first()
    if link is None:
        return "unlinked"
    if not acquire_lease(key, holder, length):
        return "busy"
    try:
        result = pull_room(link)
    finally:
        release_lease(key, holder)
    return result.error or "ok"


def mark_due(link_id: int) -> None:
    CalendarSyncState.objects.filter(link_id=link_id).update(next_pull_at=timezone.now())


def connected_room_states() -> QuerySet[CalendarSyncState]:
    """The sync states of the linked rooms of connected organisations, created where missing
    (a room just imported has none yet)."""
    connected = RoomLink.objects.filter(organisation__microsoft365__isnull=False)
    CalendarSyncState.objects.bulk_create(
        [CalendarSyncState(link_id=pk)
         for pk in connected.filter(sync_state__isnull=True).values_list("pk", flat=True)],
        ignore_conflicts=True,
    )
    return CalendarSyncState.objects.filter(link__in=connected)
