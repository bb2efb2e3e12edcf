"""Workers that die lose nothing and stall little: real `openrooms worker` processes, one killed
with SIGKILL mid-delivery, one stopped with SIGTERM. Claims last WORK_CLAIM_SECONDS and each
worker's heartbeat extends its own (jobs.heartbeat); short claims here keep the test short."""

from __future__ import annotations

import signal
import time

import pytest
from django.conf import settings

from m365_emulator.testing import wait_until
from openrooms.bookings.services import do_book
from openrooms.integrations.microsoft365.models import OutboxEntry
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    SEINE,
    connect,
    linked_room,
    slot,
)
from openrooms.jobs.models import WorkerHeartbeat, WorkLease

pytestmark = pytest.mark.django_db(transaction=True)

CLAIM_SECONDS = 4.0


def test_the_claims_last_a_minute_by_default():
    assert settings.WORK_CLAIM_SECONDS == 60


def test_a_sigkilled_workers_claim_is_kept_while_it_lives_and_taken_over_after(
    organisation, office, member, graph_settings, full_app, emulator_api, start_workers
):
    connect(organisation, graph_settings, full_app, "room")
    seine = linked_room(organisation, office, SEINE)
    # Every write to Outlook takes longer than a claim lasts: only the heartbeat keeps it.
    emulator_api.fault("slow", path_contains="/events", delay_ms=int(3 * CLAIM_SECONDS * 1000))
    doomed = start_workers(1, extra_env={"WORK_CLAIM_SECONDS": str(CLAIM_SECONDS)})[-1]
    start, end = slot()
    booking = do_book(seine, booker=member, start=start, end=end, title="Survives a crash")
    entry = wait_until(lambda: OutboxEntry.objects.filter(booking=booking).exclude(
        claimed_by="").first(), timeout=15, interval=0.05)
    start_workers(1)  # a second worker, in the same environment (start_workers keeps it)

    time.sleep(CLAIM_SECONDS * 1.5)  # past the claim's first end: the heartbeat extended it
    entry.refresh_from_db()
    assert entry.claimed_by.split(":")[1] == str(doomed.pid)
    assert entry.state == OutboxEntry.State.PENDING and entry.attempts == 0

    emulator_api.clear_faults()
    doomed.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: OutboxEntry.objects.get(pk=entry.pk).state == "delivered",
               timeout=CLAIM_SECONDS * 4, interval=0.05)
    taken_over_after = time.monotonic() - killed_at
    print(f"claim of the SIGKILLed worker taken over and delivered in {taken_over_after:.1f} s "
          f"(claims of {CLAIM_SECONDS:g} s)")
    assert taken_over_after < CLAIM_SECONDS + 2
    entry.refresh_from_db()
    assert entry.claimed_by == ""  # released by the rescuer once delivered
    events = [e for e in emulator_api.events_of(SEINE, start)
              if e.get("transactionId") == str(booking.transaction_id) and not e["isCancelled"]]
    assert len(events) == 1  # the dead worker's uncertain POST was found, not repeated


def test_sigterm_lets_the_worker_release_its_claims_and_heartbeat_at_once(
    organisation, office, graph_settings, full_app, start_workers
):
    connect(organisation, graph_settings, full_app, "room")
    [worker] = start_workers(1)
    wait_until(lambda: WorkerHeartbeat.objects.filter(process__contains=f":{worker.pid}:")
               .exists(), timeout=15)
    held = WorkLease.objects.filter(holder__contains=f":{worker.pid}:")
    wait_until(held.exists, timeout=15)  # the scheduler's lease, at least
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    assert not WorkLease.objects.filter(holder__contains=f":{worker.pid}:").exists()
    assert not WorkerHeartbeat.objects.filter(process__contains=f":{worker.pid}:").exists()
