"""Shared by the webhook tests: the receiver over HTTPS, an emulator trusting it, look-ups.

The receiver and the emulator are wrapped in fixtures by conftest.py; the rest are ways to look
at subscriptions and queued tasks."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django_tasks_db.models import DBTaskResult

from m365_emulator.server import EmulatorHandle, start_emulator
from m365_emulator.testing import TEST_OPTIONS
from openrooms.integrations.microsoft365.graph.replies import Subscription
from openrooms.integrations.microsoft365.inbound.pull import pull_room_calendar
from openrooms.integrations.microsoft365.subscriptions import (
    handle_lifecycle_event,
    manage_subscription,
)
from openrooms.integrations.microsoft365.tests.conftest import DEMO_TENANT, app_named, client_of
from openrooms.integrations.microsoft365.tests.outbox_helpers import EmulatorControl
from openrooms.tls_server import Certificate, HttpsServer, make_certificate, serve_https

PULL_TASK = pull_room_calendar.module_path
LIFECYCLE_TASK = handle_lifecycle_event.module_path
MANAGE_TASK = manage_subscription.module_path
BOB = "bob@contoso.onmicrosoft.com"


def https_receiver(folder: Path) -> Iterator[tuple[HttpsServer, Certificate]]:
    certificate = make_certificate(folder)
    server = serve_https(WSGIHandler(), certificate)
    yield server, certificate
    server.stop()


def emulator_trusting(folder: Path, certificate: Certificate) -> Iterator[EmulatorHandle]:
    """An emulator that verifies the receiver's certificate, as Graph verifies a public one
    (`webhook_verify`, never `allow_http_webhooks`)."""
    handle = start_emulator(fixture=DEMO_TENANT, port=0, state_dir=folder,
                            webhook_verify=str(certificate.ca_file), **TEST_OPTIONS)
    yield handle
    handle.stop()


def subscriptions_on(api: EmulatorControl) -> dict[str, dict[str, Any]]:
    """The emulator's subscriptions by id."""
    return {s["id"]: s for s in api.call("GET", "subscriptions")["value"]}


def delete_all_subscriptions(config: dict[str, Any]) -> None:
    """Leaves the emulator (shared by a module's tests) with no subscription of an earlier test
    notifying the next one's rooms."""
    api = EmulatorControl(config)
    with client_of(config, app_named(config, "openrooms")) as client:
        for subscription_id in subscriptions_on(api):
            client.delete_subscription(subscription_id)


def expires(subscription: dict[str, Any]) -> dt.datetime:
    return Subscription.model_validate(subscription).expiration_date_time


def tasks_named(path: str) -> list[list[Any]]:
    """The arguments of every task of that path enqueued so far."""
    return [r.args_kwargs["args"] for r in DBTaskResult.objects.filter(task_path=path)]


def wait_for_tasks(path: str, count: int = 1, timeout: float = 10.0) -> list[list[Any]]:
    deadline = time.monotonic() + timeout
    while len(found := tasks_named(path)) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{count} {path} task(s) expected, found {len(found)}")
        time.sleep(0.05)
    return found


def wall(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def book_in_outlook(api: EmulatorControl, room: str, start: dt.datetime, end: dt.datetime,
                    subject: str = "Customer call") -> dict[str, Any]:
    """Books the room as a user does in Outlook (the room's booking assistant then answers)."""
    return api.call("POST", "outlook/book", {
        "organizer": BOB, "room": room, "subject": subject, "timeZone": "UTC",
        "start": wall(start), "end": wall(end),
    })
