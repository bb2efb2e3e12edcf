"""Test settings: each step runs the production code path and says what is wrong and the fix.

A step is a function of a fresh `GraphClient` (no cached token, so a newly mistyped secret is
noticed) and of what it tests (`Trial`: the write mode, who tests, the members) returning a
`StepResult`. The page runs them one by one and shows each as it ends. Writing is tested the way
bookings are written in the chosen mode: in the room's calendar, or in a booker's with the room
invited.
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
class Trial:
    """What Test settings tests: whether to write, in which mode, and for which people (the
    administrator testing first, then the organisation's active members)."""

    also_write: bool = False
    booker_mode: bool = False
    tester: str = ""
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    run: Callable[[GraphClient, Trial], StepResult]


def check_token(client: GraphClient, trial: Trial) -> StepResult:
    try:
        client.acquire_token()
    except GraphFailure as failure:
        return explain_token_failure(failure, client)
    return StepResult(True, "Sign in to Microsoft Entra ID", "The app received a token.")


def check_directory(client: GraphClient, trial: Trial) -> StepResult:
    title = "Directory.Read.All: read the directory"
    try:
        user = client.first_user()
        with_mailbox = client.tenant_users(list(trial.members)) if trial.booker_mode else set()
    except TokenFailure as failure:
        return explain_token_failure(failure, client)
    except GraphFailure as failure:
        return explain_graph_failure(failure, title, "Directory.Read.All")
    seen = f"read {user.display_name or user.user_principal_name}" if user else "no users found"
    detail = f"The app can read users ({seen})."
    if not trial.booker_mode:
        return StepResult(True, title, detail)
    without = [member for member in trial.members if member.lower() not in with_mailbox]
    detail += f" {members_without_mailbox(len(without), len(trial.members))}"
    if not without:
        return StepResult(True, title, detail)
    shown = ", ".join(without[:5]) + (f" and {len(without) - 5} more" if len(without) > 5 else "")
    return StepResult(
        True, title, f"{detail} ({shown}).",
        "Bookings by members without a mailbox are written to the room's calendar instead, so "
        "they are still in Outlook. Give them the e-mail address of their Microsoft 365 account "
        "(Settings → Members) if they have one.",
    )


def members_without_mailbox(count: int, total: int) -> str:
    if count == 0:
        return f"All {total} members have a mailbox in the tenant."
    verb = "has" if count == 1 else "have"
    return f"{count} of {total} members {verb} no mailbox in the tenant"


def check_places(client: GraphClient, trial: Trial) -> StepResult:
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


def check_calendars(client: GraphClient, trial: Trial) -> StepResult:
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
    booker = None
    try:
        client.peek_calendar(mailbox, now, now + dt.timedelta(days=1))
        if trial.also_write and trial.booker_mode:
            booker = first_booker_with_mailbox(client, trial)
        if trial.also_write:
            write_and_delete_probe(client, mailbox, now, booker=booker)
    except TokenFailure as failure:
        return explain_token_failure(failure, client)
    except GraphFailure as failure:
        return explain_graph_failure(failure, title, "Calendars.ReadWrite", booker or mailbox)
    if booker is not None:
        return StepResult(
            True, title,
            f"The app can read the calendar of {mailbox}, and wrote a test event in the calendar "
            f"of {booker} with the room invited (as bookings are written in this mode), then "
            "cancelled it.",
        )
    wrote = " and write to" if trial.also_write else ""
    if trial.also_write and trial.booker_mode:
        # A booker without a mailbox has the booking written to the room's calendar instead.
        return StepResult(
            True, title,
            f"The app can read and write to the calendar of {mailbox}. No member of this "
            "organisation (you included) has a mailbox in the tenant, so bookings are written "
            "to the rooms' calendars, as this test was.",
            "To have bookings in the bookers' own calendars, give members the e-mail addresses "
            "of their Microsoft 365 accounts (Settings → Members).",
        )
    return StepResult(True, title, f"The app can read{wrote} the calendar of {mailbox}.")


def first_booker_with_mailbox(client: GraphClient, trial: Trial) -> str | None:
    """The person to test booker's-calendar writes with: whoever tests, if the tenant has
    them, else the first member it has."""
    people = list(dict.fromkeys(p.lower() for p in (trial.tester, *trial.members) if p))
    in_tenant = client.tenant_users(people)
    return next((person for person in people if person in in_tenant), None)


PROBE_LENGTH = dt.timedelta(minutes=5)


def write_and_delete_probe(
    client: GraphClient, mailbox: str, now: dt.datetime, *, booker: str | None = None
) -> None:
    """Writes a short event and removes it, as a booking's delivery would: the same checks,
    the same POST, the same DELETE (or cancel). In the room's calendar, or with `booker` in the
    booker's calendar with the room invited. At a time the room is free tomorrow, since a write
    must not land over a meeting."""
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
    calendar = booker or mailbox
    event = write_event(client, calendar, probe, in_room=booker is None)
    remove_event(client, calendar, event.id, in_room=booker is None)


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


def run_step(step: Step, client: GraphClient, trial: Trial) -> StepResult:
    """Runs one step; every step after the token needs one, so a refused token stops them."""
    if step.key != "token":
        try:
            client.acquire_token()
        except GraphFailure:
            return StepResult(False, step.title, "Skipped: no token (see the first step).")
    return step.run(client, trial)
