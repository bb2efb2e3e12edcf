"""Shared by the outbox tests: the emulator's control API, a connected organisation, rooms."""

from __future__ import annotations

import datetime as dt
import ssl
import time
from typing import Any

import httpx
import pytest

from openrooms.accounts.models import Organisation
from openrooms.integrations.microsoft365.connection import do_save_connection
from openrooms.integrations.microsoft365.models import (
    Connection,
    OutboxEntry,
    RoomLink,
)
from openrooms.integrations.microsoft365.outbound import deliver_due_entries
from openrooms.spaces.models import Office, Space
from openrooms.spaces.services import do_create_space

SEINE = "paris-seine@contoso.onmicrosoft.com"
BASTILLE = "paris-bastille@contoso.onmicrosoft.com"
OPERA = "paris-opera@contoso.onmicrosoft.com"
FOURVIERE = "lyon-fourviere@contoso.onmicrosoft.com"
ALICE = "alice@contoso.onmicrosoft.com"


class EmulatorControl:
    """The emulator's control API (faults, counters, calendars read without Graph)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.url = config["control_url"].rstrip("/")
        self.http = httpx.Client(verify=ssl.create_default_context(cafile=config["ca_file"]),
                                 timeout=10)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        self.call("POST", "reset", {"calendars": True})

    def fault(self, kind: str, **options: Any) -> None:
        self.call("POST", "faults", {"kind": kind, **options})

    def clear_faults(self) -> None:
        self.call("DELETE", "faults")

    def counters(self) -> dict[str, Any]:
        return self.call("GET", "counters")

    def calendar(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> list[dict]:
        def stamp(moment: dt.datetime) -> str:
            return moment.astimezone(dt.UTC).isoformat().replace("+", "%2B")

        query = f"?start={stamp(start)}&end={stamp(end)}"
        return self.call("GET", f"mailboxes/{mailbox}/calendar{query}")["value"]

    def events_of(self, mailbox: str, day: dt.datetime) -> list[dict]:
        """Every event of the mailbox on the day of `day` (UTC), cancelled ones included."""
        start = day.replace(hour=0, minute=0, second=0, microsecond=0)
        return self.calendar(mailbox, start, start + dt.timedelta(days=1))


def connect(organisation: Organisation, config: dict[str, Any], app: dict[str, Any],
            write_mode: str) -> Connection:
    return do_save_connection(
        organisation,
        tenant_id=config["tenant_id"],
        client_id=app["client_id"],
        client_secret=app["secret_value"],
        secret_expires_on=None,
        write_mode=write_mode,
    )


def linked_room(organisation: Organisation, office: Office, mailbox: str) -> Space:
    name = mailbox.split("@")[0]
    space = do_create_space(office, kind=Space.Kind.ROOM, name=name, capacity=6)
    RoomLink.objects.create(space=space, organisation=organisation, mailbox=mailbox,
                            display_name=name)
    return space


def slot(days: int = 5, hour: int = 16, minutes: int = 60) -> tuple[dt.datetime, dt.datetime]:
    """A time well clear of the demo tenant's own meetings."""
    day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )
    return day, day + dt.timedelta(minutes=minutes)


def deliver_everything(timeout: float = 5.0) -> None:
    """Delivers open entries in this process, waiting for their next attempt, until none is
    left open."""
    deadline = time.monotonic() + timeout
    while OutboxEntry.objects.filter(state__in=OutboxEntry.OPEN_STATES).exists():
        for mailbox in set(OutboxEntry.objects.filter(
                state__in=OutboxEntry.OPEN_STATES).values_list("mailbox", flat=True)):
            deliver_due_entries(mailbox)
        if time.monotonic() > deadline:
            pytest.fail("outbox entries still open")
        time.sleep(0.05)
