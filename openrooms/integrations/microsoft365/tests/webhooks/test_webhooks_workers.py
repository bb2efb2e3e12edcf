"""Change notifications end to end with a real `openrooms worker`.

Its scheduler subscribes the linked room (Graph's validation request reaches the receiver over
HTTPS), a meeting booked in Outlook is notified, the receiver queues the room's pull and the
worker brings the meeting in, while polling a subscribed room is pushed a day away.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from m365_emulator.testing import wait_until
from openrooms.bookings.models import Booking
from openrooms.integrations.microsoft365.models import CalendarSyncState
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    SEINE,
    connect,
    linked_room,
    slot,
)
from openrooms.integrations.microsoft365.tests.webhooks.helpers import (
    PULL_TASK,
    book_in_outlook,
    subscriptions_on,
    tasks_named,
)

pytestmark = pytest.mark.django_db(transaction=True)

SAFETY_POLL_SECONDS = 86_400  # polling a subscribed room: effectively off












def test_a_worker_subscribes_the_room_and_brings_notified_meetings_in(
    public_url, start_workers, organisation, office, graph_settings, full_app, emulator_api
):
    connect(organisation, graph_settings, full_app, "room")
    seine = linked_room(organisation, office, SEINE)
    start_workers(1, poll_seconds=0.5, extra_env={
        "PUBLIC_BASE_URL": public_url,
        "MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS": str(SAFETY_POLL_SECONDS),
    })

    def subscribed_and_synced() -> CalendarSyncState | None:
        state = CalendarSyncState.objects.filter(link__space=seine).first()
        if state is None:
            return None
        live = state.subscription_id and state.last_full_sync_at
        # Pulls once subscribed wait a day: from now on only a notification brings changes.
        safety_net = timezone.now() + dt.timedelta(seconds=SAFETY_POLL_SECONDS / 2)
        return state if live and state.next_pull_at and state.next_pull_at > safety_net else None

    state = wait_until(subscribed_and_synced, timeout=30)
    assert state.subscription_error == ""
    assert state.subscription_id in subscriptions_on(emulator_api)
    pulls_before = len(tasks_named(PULL_TASK))

    start, end = slot(days=9)
    event = book_in_outlook(emulator_api, SEINE, start, end, subject="Board")
    booking = wait_until(
        lambda: Booking.objects.filter(space=seine, ical_uid=event["iCalUId"]).first(),
        timeout=20,
    )
    assert (booking.start, booking.end, booking.source) == (start, end, "outlook")
    assert len(tasks_named(PULL_TASK)) > pulls_before  # the notification's pull
    assert emulator_api.counters()["notifications_delivered"] >= 1

    emulator_api.call("POST", "outlook/cancel",
                      {"mailbox": "bob@contoso.onmicrosoft.com", "event_id": event["id"]})
    wait_until(lambda: Booking.objects.get(pk=booking.pk).status == "cancelled", timeout=20)
    assert not DBTaskResult.objects.filter(status="FAILED").exists()
