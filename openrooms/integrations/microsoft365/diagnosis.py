"""Test settings: each step runs the production code path and says what is wrong and the fix.

A step is a function of a fresh `GraphClient` (no cached token, so a newly mistyped secret is
noticed) returning a `StepResult`. The page runs them one by one and shows each as it ends.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

from openrooms.integrations.microsoft365.graph import (
    GraphClient,
    GraphFailure,
    TokenFailure,
    event_path,
    user_path,
)

CONSENT_STEPS = (
    "In the Azure portal open App registrations → your app → API permissions. If {permission} "
    "is missing, choose Add a permission → Microsoft Graph → Application permissions → "
    "{permission} → Add permissions. Then press “Grant admin consent for <your organisation>” "
    "and check that its status shows a green tick. Consent can take a few minutes to apply."
)
RENEWAL_STEPS = (
    "In the Azure portal open App registrations → your app → Certificates & secrets → "
    "New client secret, choose 12 or 24 months, press Add and copy the secret's Value (not its "
    "Secret ID) straight away: it is shown only once. Paste it here with its new expiry date."
)
RBAC_SCOPE_STEPS = (
    "The app is restricted to a set of mailboxes (Exchange RBAC for Applications or an "
    "application access policy) and this room is outside it. In Exchange Online PowerShell "
    "check with: Test-ServicePrincipalAuthorization -Identity <app> -Resource {mailbox}. "
    "Add the room mailboxes to the management scope the app's role assignment uses (see "
    "the help page), then wait up to 30 minutes."
)


@dataclass(frozen=True)
class StepResult:
    ok: bool
    title: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    run: Callable[[GraphClient, bool], StepResult]


def explain_token_failure(failure: GraphFailure, client: GraphClient) -> StepResult:
    title = "Sign in to Microsoft Entra ID"
    tenant = client.credentials.tenant_id
    app = client.credentials.client_id
    if not isinstance(failure, TokenFailure):
        return StepResult(
            False, title, failure.message,
            "Check that this server can reach login.microsoftonline.com over HTTPS (proxy, "
            "firewall, TLS inspection), then test again.",
        )
    codes = set(failure.error_codes)
    if 90002 in codes:
        return StepResult(
            False, title, f"There is no Microsoft Entra tenant “{tenant}”.",
            "Copy the Directory (tenant) ID from the app's Overview page in the Azure portal "
            "(or use your tenant's domain, such as contoso.onmicrosoft.com) into Tenant ID.",
        )
    if 900023 in codes:
        return StepResult(
            False, title, f"“{tenant}” is neither a tenant ID nor a domain name.",
            "Tenant ID takes the Directory (tenant) ID, a GUID like "
            "72f988bf-86f1-41af-91ab-2d7cd011db47, or a domain like contoso.onmicrosoft.com.",
        )
    if 700016 in codes:
        return StepResult(
            False, title, f"Tenant {tenant} has no app with the Client ID {app}.",
            "Copy the Application (client) ID from the Overview page of the app you registered, "
            "and check that the Tenant ID is the Directory (tenant) ID shown on the same page. "
            "An app registered in another directory cannot be used here.",
        )
    if 7000215 in codes:
        return StepResult(
            False, title,
            "Microsoft refused the client secret. Often the secret's ID was pasted instead of "
            "its Value.",
            "In Certificates & secrets the Value column holds the secret (it is shown in full "
            "only right after it is created). If you can no longer see it, create a new one: "
            + RENEWAL_STEPS,
        )
    if 7000222 in codes:
        return StepResult(False, title, "The client secret has expired.", RENEWAL_STEPS)
    return StepResult(
        False, title,
        f"Microsoft refused the token request: {failure.message.splitlines()[0]}",
        "Check the Client ID, Client Secret and Tenant ID against the app's Overview and "
        "Certificates & secrets pages.",
    )


def explain_graph_failure(
    failure: GraphFailure, title: str, permission: str, mailbox: str | None = None
) -> StepResult:
    if failure.status == 403 and "OData is disabled" in failure.message and mailbox:
        return StepResult(
            False, title, f"The app may not open the mailbox {mailbox}.",
            RBAC_SCOPE_STEPS.format(mailbox=mailbox),
        )
    if failure.status == 403:
        return StepResult(
            False, title,
            f"The app has no admin consent for the application permission {permission}.",
            CONSENT_STEPS.format(permission=permission),
        )
    if failure.code == "MailboxNotEnabledForRESTAPI" or "on-premise" in failure.message.lower():
        return StepResult(
            False, title,
            f"The mailbox {mailbox} is hosted in on-premises Exchange.",
            "Hybrid deployments are not supported: Microsoft Graph can only book rooms whose "
            "mailboxes are in Exchange Online. Move the room mailbox to Exchange Online.",
        )
    if failure.status == 404 and mailbox:
        return StepResult(
            False, title, f"Microsoft 365 has no mailbox {mailbox}.",
            "Check the room's email address in the Exchange admin center (Resources).",
        )
    return StepResult(
        False, title, f"Microsoft Graph answered: {failure.message}",
        "This is usually temporary (throttling or an outage): test again in a few minutes.",
    )


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


def write_and_delete_probe(client: GraphClient, mailbox: str, now: dt.datetime) -> None:
    start = now + dt.timedelta(days=1)
    event = client.request(
        "POST", f"{user_path(mailbox)}/events", mailbox=mailbox, retry=True,
        json_body={
            "subject": "openrooms connection test (deleted at once)",
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {
                "dateTime": (start + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
            "showAs": "free",
            "transactionId": str(uuid.uuid4()),
        },
    ).json()
    client.request("DELETE", event_path(mailbox, event["id"]), mailbox=mailbox)


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
