"""Every Microsoft failure in words an administrator can act on.

They are the Test settings steps' results, the Manage Rooms page's errors, the sync health
page's last errors.

`StepResult(ok, title, detail, fix)` is what a page shows; `describe` is the one-line form
kept on outbox entries and sync states.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from openrooms.integrations.microsoft365.graph.client import GraphClient
from openrooms.integrations.microsoft365.graph.failures import (
    GraphFailure,
    TokenFailure,
    is_on_premises,
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


HYBRID_FIX = (
    "Hybrid deployments are not supported: Microsoft Graph can only book rooms whose mailboxes "
    "are in Exchange Online. Move the room mailbox to Exchange Online, then add it again."
)
UNREADABLE_KEY_FIX = (
    "The installation's encryption keys changed since the secret was saved. Enter the client "
    "secret again on the Office 365 page and save."
)


@dataclass(frozen=True)
class StepResult:
    ok: bool
    title: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


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
    if is_on_premises(failure):
        return StepResult(
            False, title, f"The mailbox {mailbox} is hosted in on-premises Exchange.", HYBRID_FIX
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


def describe(failure: GraphFailure) -> str:
    """The failure in one line, with Graph's status and code (outbox entries, pulls)."""
    details = ", ".join(str(part) for part in (failure.status, failure.code) if part)
    return f"{failure.message} ({details})" if details else failure.message


def explain_subscription_failure(failure: GraphFailure, notification_url: str) -> str:
    """A subscription that could not be made or renewed, with what to check."""
    text = describe(failure)
    if "validation request" in failure.message.lower():
        return (
            f"{text} Microsoft could not reach {notification_url}: PUBLIC_BASE_URL must be "
            "this installation's public https address, reachable from the internet with a "
            "certificate Microsoft trusts. Until then the room is polled."
        )
    if failure.status in (401, 403):
        return f"{text} Check the app's Calendars.ReadWrite consent with Test settings."
    return text
