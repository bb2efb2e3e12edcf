"""Test settings: each step runs the production code path and says what is wrong and the fix.

A step is a function of a fresh `GraphClient` (no cached token, so a newly mistyped secret is
noticed) returning a `StepResult`. The page runs them one by one and shows each as it ends.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from openrooms.integrations.microsoft365.explain import (
    StepResult,
    explain_graph_failure,
    explain_token_failure,
)
from openrooms.integrations.microsoft365.graph.client import GraphClient
from openrooms.integrations.microsoft365.graph.failures import GraphFailure, TokenFailure
from openrooms.integrations.microsoft365.outbound import EventDraft, remove_event, write_event


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    run: Callable[[GraphClient, bool], StepResult]


def check_token(client: GraphClient, also_write: bool) -> StepResult:
    try:
        client.acquire_token()
    except GraphFailure as failure:
        return explain_token_failure(failure, client)
    return StepResult(True, "Sign in to Microsoft Entra ID", "The app received a token.")


def check_directory(client: GraphClient, also_write: bool) -> StepResult:
    title = "Directory.Read.All: read the directory"
    try:
        user = client.first_user()
    except TokenFailure as failure:
        return explain_token_failure(failure, client)
    except GraphFailure as failure:
        return explain_graph_failure(failure, title, "Directory.Read.All")
    seen = f"read {user.display_name or user.user_principal_name}" if user else "no users found"
    return StepResult(True, title, f"The app can read users ({seen}).")


def check_places(client: GraphClient, also_write: bool) -> StepResult:
    title = "Place.Read.All: list the meeting rooms"
    try:
        rooms = client.rooms()
    except TokenFailure as failure:
        return explain_token_failure(failure, client)
    except GraphFailure as failure:
        return explain_graph_failure(failure, title, "Place.Read.All")
    if not rooms:
        return StepResult(
            True, title, "The app can list rooms, but Microsoft 365 lists none yet.",
            "Rooms appear here once they are room mailboxes in Exchange Online; new rooms can "
            "take up to 24 hours to show up.",
        )
    return StepResult(True, title, f"Found {len(rooms)} room{'s' if len(rooms) != 1 else ''}.")


def check_calendars(client: GraphClient, also_write: bool) -> StepResult:
    title = "Calendars.ReadWrite: open a room's calendar"
    try:
        rooms = client.rooms()
    except GraphFailure:
        rooms = []
    if not rooms:
        return StepResult(
            False, title, "No room to test with: the Places step found none.",
            "Fix the step above, or add a room mailbox in Exchange Online, then test again.",
        )
    mailbox = rooms[0].email_address
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        client.peek_calendar(mailbox, now, now + dt.timedelta(days=1))
        if also_write:
            write_and_delete_probe(client, mailbox, now)
    except TokenFailure as failure:
        return explain_token_failure(failure, client)
    except GraphFailure as failure:
        return explain_graph_failure(failure, title, "Calendars.ReadWrite", mailbox)
    wrote = " and write to" if also_write else ""
    return StepResult(True, title, f"The app can read{wrote} the calendar of {mailbox}.")


PROBE_LENGTH = dt.timedelta(minutes=5)


def write_and_delete_probe(client: GraphClient, mailbox: str, now: dt.datetime) -> None:
    """Writes a short event to the room's calendar and removes it, as a booking's delivery
    would: the same checks, the same POST, the same DELETE. At a time the room is free
    tomorrow, since a direct write must not land over a meeting."""
    start = free_moment(client, mailbox, (now + dt.timedelta(days=1)).replace(second=0))
    probe = EventDraft(
        subject="openrooms connection test (deleted at once)",
        start=start,
        end=start + PROBE_LENGTH,
        transaction_id=str(uuid.uuid4()),
        room_mailbox=mailbox,
        room_name="",
        show_as="free",
    )
    event = write_event(client, mailbox, probe, in_room=True)
    remove_event(client, mailbox, event.id, in_room=True)


def free_moment(client: GraphClient, mailbox: str, after: dt.datetime) -> dt.datetime:
    """The first moment from `after` with PROBE_LENGTH free in the room's calendar that day."""
    busy = sorted(
        (e.start.utc, e.end.utc)
        for e in client.calendar_view(mailbox, after, after + dt.timedelta(days=1))
        if not e.is_cancelled and e.show_as != "free"
    )
    moment = after
    for start, end in busy:
        if start >= moment + PROBE_LENGTH:
            break
        moment = max(moment, end)
    return moment


STEPS = [
    Step("token", "Sign in to Microsoft Entra ID", check_token),
    Step("directory", "Directory.Read.All: read the directory", check_directory),
    Step("places", "Place.Read.All: list the meeting rooms", check_places),
    Step("calendars", "Calendars.ReadWrite: open a room's calendar", check_calendars),
]


def run_step(step: Step, client: GraphClient, *, also_write: bool = False) -> StepResult:
    """Runs one step; every step after the token needs one, so a refused token stops them."""
    if step.key != "token":
        try:
            client.acquire_token()
        except GraphFailure:
            return StepResult(False, step.title, "Skipped: no token (see the first step).")
    return step.run(client, also_write)
