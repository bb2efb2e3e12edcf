"""The Office 365 settings form: catches what Microsoft would refuse before anything is sent."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.utils import timezone

from openrooms.forms import TextChecks
from openrooms.integrations.microsoft365.models import Connection

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# Something an admin meant as a GUID: only hex digits and dashes.
GUID_LIKE = re.compile(r"^[0-9a-f-]+$", re.I)
# A verified domain or contoso.onmicrosoft.com: labels of letters, digits and hyphens.
DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.I)
GUID_EXAMPLE = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def check_guid(value: str, what: str) -> str:
    if not GUID.match(value):
        raise forms.ValidationError(
            f"This is not a valid GUID. The {what} looks like {GUID_EXAMPLE}: 32 letters and "
            "digits in groups of 8-4-4-4-12. Copy it again from the app's Overview page."
        )
    return value.lower()


def saved_values(connection: Connection) -> dict[str, Any]:
    """The connection's settings as the form's fields hold them (the secret is never shown)."""
    return {
        "client_id": connection.client_id,
        "tenant_id": connection.tenant_id,
        "secret_expires_on": connection.secret_expires_on,
        "write_mode": connection.write_mode,
    }


class ConnectionForm(TextChecks, forms.Form):
    client_id = forms.CharField(
        label="Client ID",
        help_text="The Application (client) ID on your app's Overview page in the Azure portal.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    # Never rendered back (render_value=False): the stored secret is shown as "•••• set on".
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        help_text="The secret's Value from Certificates & secrets (not its Secret ID).",
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
        ),
    )
    tenant_id = forms.CharField(
        label="Tenant ID",
        help_text="The Directory (tenant) ID on the same Overview page, or your tenant's domain, "
        "such as contoso.onmicrosoft.com.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    secret_expires_on = forms.DateField(
        label="Secret expires on",
        help_text="The Expires date shown next to the secret: 1 or 2 years from the day it was "
        "created. openrooms reminds administrators 30, 14 and 1 day before.",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    write_mode = forms.ChoiceField(
        label="Where bookings are written",
        choices=[
            (
                Connection.WriteMode.BOOKER_CALENDAR,
                "In the booker's own calendar, with the room invited (recommended by Microsoft)",
            ),
            (
                Connection.WriteMode.ROOM_CALENDAR,
                "Directly in the room's calendar (for an app restricted to room mailboxes)",
            ),
        ],
        initial=Connection.WriteMode.BOOKER_CALENDAR,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, connection: Connection | None = None, **kwargs: Any) -> None:
        self.connection = connection
        if connection is not None and "initial" not in kwargs:
            kwargs["initial"] = saved_values(connection)
        super().__init__(*args, **kwargs)
        if connection is None:
            self.fields["client_secret"].required = True
            self.fields["client_secret"].error_messages["required"] = (
                "Paste the client secret's Value from Certificates & secrets."
            )

    def clean_client_id(self) -> str:
        return check_guid(self.cleaned_data["client_id"].strip(), "Application (client) ID")

    def clean_tenant_id(self) -> str:
        tenant = self.cleaned_data["tenant_id"].strip()
        if GUID_LIKE.match(tenant):
            return check_guid(tenant, "Directory (tenant) ID")
        if DOMAIN.match(tenant):
            return tenant.lower()
        raise forms.ValidationError(
            f"Enter the Directory (tenant) ID, a GUID like {GUID_EXAMPLE}, or your tenant's "
            "domain, such as contoso.onmicrosoft.com."
        )

    def clean_secret_expires_on(self) -> dt.date:
        expires_on: dt.date = self.cleaned_data["secret_expires_on"]
        if expires_on < timezone.localdate():
            raise forms.ValidationError(
                f"That date has passed: a secret that expired on {expires_on:%d %B %Y} no longer "
                "signs in, so rooms would stop syncing. Create a new client secret in the Azure "
                "portal (Certificates & secrets), paste its Value and its Expires date."
            )
        return expires_on

    def clean_client_secret(self) -> str | None:
        secret = self.cleaned_data["client_secret"].strip()
        if not secret:
            return None  # keep the stored one
        if GUID.match(secret):
            raise forms.ValidationError(
                "This looks like the secret's ID; copy the secret's Value instead. The Value is "
                "the column next to Secret ID, shown in full only right after the secret is "
                "created."
            )
        return secret


class AddRoomForm(TextChecks, forms.Form):
    mailbox = forms.EmailField(
        label="Room mailbox address",
        help_text="For a room that Microsoft 365 does not list yet: its calendar is opened to "
        "check it.",
    )
