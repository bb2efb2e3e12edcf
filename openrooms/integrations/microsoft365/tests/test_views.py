"""The Office 365 settings and Manage Rooms pages, against the emulator over real HTTPS."""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import ssl
import sys
from typing import Any

import httpx
import pytest
from django.contrib.sessions.backends.base import SessionBase
from django.core import mail
from django.core.management import call_command
from django.template import Context, Template
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from openrooms import crypto
from openrooms.accounts.services import do_create_account
from openrooms.conftest import PASSWORD
from openrooms.integrations.microsoft365 import views
from openrooms.integrations.microsoft365.clients import client_for
from openrooms.integrations.microsoft365.connection import (
    do_save_connection,
    email_secret_expiry_warnings,
)
from openrooms.integrations.microsoft365.diagnosis import STEPS
from openrooms.integrations.microsoft365.graph.replies import Room
from openrooms.integrations.microsoft365.models import (
    Connection,
    RoomLink,
)
from openrooms.integrations.microsoft365.rooms import do_import_rooms
from openrooms.integrations.microsoft365.tests.conftest import app_named
from openrooms.spaces.models import Space
from openrooms.spaces.services import do_create_office

SEINE = "paris-seine@contoso.onmicrosoft.com"
SAONE = "lyon-saone@contoso.onmicrosoft.com"
NEW_ROOM = "paris-newroom@contoso.onmicrosoft.com"  # a room mailbox not yet in Places
ON_PREMISES_ROOM = "legacy-boardroom@contoso.onmicrosoft.com"
PERSON = "alice@contoso.onmicrosoft.com"
ON_PREMISES_PERSON = "david.onprem@contoso.onmicrosoft.com"
TENANT = "8e4b1f2a-6c3d-4a5e-9f10-2b7c8d9e0a11"
CLIENT = "5ca0ed64-3811-5117-9455-a85a52a9b696"


def form_data(**changes: str) -> dict[str, str]:
    return {
        "client_id": CLIENT,
        "client_secret": "Qx8~a-very-secret-value.42",
        "tenant_id": TENANT,
        "secret_expires_on": "2027-06-01",
        "write_mode": "booker",
        **changes,
    }


def connect(organisation, config: dict[str, Any], app: str = "openrooms", **changes) -> Connection:
    """Saves the credentials of one of the emulator's Azure apps."""
    azure_app = app_named(config, app)
    fields = {
        "tenant_id": config["tenant_id"],
        "client_id": azure_app["client_id"],
        "client_secret": azure_app["secret_value"],
        "secret_expires_on": dt.date(2099, 1, 1),
        "write_mode": Connection.WriteMode.BOOKER_CALENDAR,
        **changes,
    }
    return do_save_connection(organisation, **fields)


def run_test_settings(client, *, also_write: bool = False) -> list[str]:
    """Presses Test settings the way htmx does; returns each step's HTML."""
    data = {"also_write": "on"} if also_write else {}
    start = client.post(reverse("microsoft365_test"), data, headers={"HX-Request": "true"})
    assert start.status_code == 200
    assert f'hx-post="{reverse("microsoft365_test_step", args=[0])}"' in start.text
    assert 'hx-trigger="load"' in start.text
    answers = []
    for index in range(len(STEPS)):
        data = {"also_write": "1"} if also_write else {}
        answer = client.post(reverse("microsoft365_test_step", args=[index]), data)
        assert answer.status_code == 200
        answers.append(answer.text)
        if index + 1 < len(STEPS):  # each answer brings the next step's placeholder
            assert reverse("microsoft365_test_step", args=[index + 1]) in answer.text
    return answers


def imported_link(organisation, office, mailbox: str = "keep@contoso.test") -> RoomLink:
    room = Room(id="x", email_address=mailbox, display_name="Keep", capacity=2)
    return do_import_rooms(organisation, office, [room], room_lists={})[0]


# Who may open what


def every_url(link: RoomLink, office) -> list[tuple[str, str]]:
    return [
        ("get", reverse("microsoft365")),
        ("post", reverse("microsoft365")),
        ("post", reverse("microsoft365_test")),
        ("post", reverse("microsoft365_test_step", args=[0])),
        ("get", reverse("microsoft365_disconnect")),
        ("post", reverse("microsoft365_disconnect")),
        ("get", reverse("microsoft365_help")),
        ("get", reverse("microsoft365_rooms")),
        ("get", reverse("microsoft365_room_listing") + f"?office={office.pk}"),
        ("post", reverse("microsoft365_import_rooms")),
        ("post", reverse("microsoft365_add_room")),
        ("post", reverse("microsoft365_reimport_room", args=[link.pk])),
        ("get", reverse("microsoft365_unlink_room", args=[link.pk])),
        ("post", reverse("microsoft365_unlink_room", args=[link.pk])),
    ]


def test_a_member_gets_403_on_every_settings_url(
    organisation, office, member_client, graph_settings
):
    connect(organisation, graph_settings)
    link = imported_link(organisation, office)
    for method, url in every_url(link, office):
        response = getattr(member_client, method)(url, {"office": office.pk})
        assert response.status_code == 403, (method, url)
    assert Connection.objects.exists() and RoomLink.objects.exists()


def test_a_visitor_is_sent_to_sign_in(client, organisation, office):
    link = imported_link(organisation, office)
    for method, url in every_url(link, office):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_ids_of_another_organisation_are_404(admin_client, other_organisation, organisation):
    elsewhere = do_create_office(
        other_organisation, name="Globex HQ", address="", timezone="Europe/London"
    )
    link = imported_link(other_organisation, elsewhere)
    do_save_connection(
        organisation, tenant_id=TENANT, client_id=CLIENT, client_secret="a~secret",
        secret_expires_on=None, write_mode="booker",
    )
    assert admin_client.get(reverse("microsoft365_rooms"), {"office": elsewhere.pk}).status_code \
        == 404
    assert admin_client.get(
        reverse("microsoft365_room_listing"), {"office": elsewhere.pk}).status_code == 404
    for name in ("microsoft365_import_rooms", "microsoft365_add_room"):
        data = {"office": elsewhere.pk, "mailbox": SEINE}
        assert admin_client.post(reverse(name), data).status_code == 404
    for name in ("microsoft365_reimport_room", "microsoft365_unlink_room"):
        assert admin_client.post(reverse(name, args=[link.pk])).status_code == 404
    assert RoomLink.objects.filter(pk=link.pk).exists()


# The settings form


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"client_secret": "  9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d "}, "client_secret",
         "This looks like the secret's ID; copy the secret's Value instead"),
        ({"client_id": "5ca0ed64-3811-5117-9455-a85a52a9b69"}, "client_id",
         "This is not a valid GUID"),
        ({"tenant_id": "8e4b1f2a6c3d-4a5e-9f10-2b7c8d9e0a11"}, "tenant_id",
         "This is not a valid GUID"),
        ({"tenant_id": "contoso onmicrosoft"}, "tenant_id", "or your tenant's domain"),
        ({"client_secret": ""}, "client_secret", "Paste the client secret's Value"),
        ({"secret_expires_on": ""}, "secret_expires_on", "This field is required"),
        ({"secret_expires_on": "2020-01-31"}, "secret_expires_on",
         "That date has passed: a secret that expired on 31 January 2020 no longer signs in"),
    ],
)
def test_the_form_refuses_what_microsoft_would(admin_client, changes, field, message):
    response = admin_client.post(reverse("microsoft365"), form_data(**changes))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message.replace("'", "&#x27;") in response.text
    assert not Connection.objects.exists()


def test_a_domain_tenant_is_accepted_and_whitespace_trimmed(admin_client, organisation):
    response = admin_client.post(reverse("microsoft365"), form_data(
        tenant_id="  Contoso.onmicrosoft.com ", client_id=f" {CLIENT.upper()}\t",
        client_secret=" Qx8~value ", write_mode="room",
    ))
    assert response.status_code == 302
    connection = Connection.objects.get(organisation=organisation)
    assert connection.tenant_id == "contoso.onmicrosoft.com"
    assert connection.client_id == CLIENT
    assert connection.write_mode == "room"
    assert client_for(connection).credentials.client_secret == "Qx8~value"


def test_the_secret_is_shown_as_set_and_kept_when_left_empty(admin_client, organisation):
    admin_client.post(reverse("microsoft365"), form_data())
    page = admin_client.get(reverse("microsoft365"))
    set_on = timezone.localdate().strftime("%-d %B %Y")
    assert f"•••• set on {set_on}" in page.text and "Replace secret" in page.text
    assert 'name="client_secret"' in page.text and "Qx8~" not in page.text
    response = admin_client.post(reverse("microsoft365"), form_data(
        client_secret="", write_mode="room"))
    assert response.status_code == 302
    connection = Connection.objects.get(organisation=organisation)
    assert connection.write_mode == "room"
    assert client_for(connection).credentials.client_secret == form_data()[
        "client_secret"]


def test_the_secret_is_a_sensitive_post_parameter(admin):
    request = RequestFactory().post(reverse("microsoft365"), form_data(client_id="bad"))
    request.user = admin
    request.session = SessionBase()
    request._messages = None  # type: ignore[attr-defined]  # set by MessageMiddleware
    views.connection_settings(request)
    cleansed = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleansed["client_secret"] == "********************"
    assert cleansed["client_id"] == "bad"


def test_an_error_page_hides_the_secret(admin, monkeypatch):
    """Error reports show each frame's local variables: not the form's, nor the service's."""

    def fail(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Connection, "save", fail)
    request = RequestFactory().post(reverse("microsoft365"), form_data())
    request.user = admin
    try:
        views.connection_settings(request)
    except RuntimeError:
        reporter = ExceptionReporter(request, *sys.exc_info())
    report = reporter.get_traceback_text() + reporter.get_traceback_html()
    assert "the database went away" in report and "do_save_connection" in report
    assert form_data()["client_secret"] not in report


def test_the_secret_never_appears_in_a_page_or_a_log_line(
    admin_client, organisation, office, graph_settings, caplog
):
    caplog.set_level(logging.DEBUG)
    full_app = app_named(graph_settings, "openrooms")
    secret = full_app["secret_value"]
    data = form_data(client_id=full_app["client_id"], client_secret=secret,
                     tenant_id=graph_settings["tenant_id"])
    bodies = [admin_client.post(reverse("microsoft365"), data | {"tenant_id": "bad tenant"}).text]
    assert admin_client.post(reverse("microsoft365"), data).status_code == 302
    bodies += run_test_settings(admin_client, also_write=True)
    for url in (
        reverse("microsoft365"),
        reverse("microsoft365_help"),
        reverse("microsoft365_disconnect"),
        reverse("microsoft365_rooms"),
        reverse("microsoft365_room_listing") + f"?office={office.pk}",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        bodies.append(response.text)
    imported = admin_client.post(
        reverse("microsoft365_import_rooms"), {"office": office.pk, "mailbox": [SEINE]},
        follow=True)
    bodies.append(imported.text)
    bodies.append(admin_client.post(
        reverse("microsoft365_add_room"), {"office": office.pk, "mailbox": ON_PREMISES_ROOM}).text)
    assert "Imported 1 room" in imported.text
    assert all(secret not in body for body in bodies)
    assert caplog.records, "nothing was logged: the check would prove nothing"
    assert not [r for r in caplog.records if secret in r.getMessage() or secret in str(r.args)]
    assert secret not in caplog.text


# Test settings


def test_a_fully_consented_app_turns_every_step_green(admin_client, organisation, graph_settings):
    connect(organisation, graph_settings, write_mode=Connection.WriteMode.ROOM_CALENDAR)
    answers = run_test_settings(admin_client, also_write=True)
    assert all("m365-step-ok" in answer for answer in answers)
    assert "Found 123 rooms" in answers[2]
    assert "can read and write to the calendar of" in answers[3]
    assert "All steps passed" in answers[3]
    connection = Connection.objects.get()
    assert connection.last_test_ok is True and len(connection.last_test_steps) == len(STEPS)
    page = admin_client.get(reverse("microsoft365")).text
    assert "Last tested" in page and "all steps passed" in page and "Connected" in page


def test_in_booker_mode_the_write_test_uses_a_member_with_a_mailbox_and_says_who(
    admin_client, organisation, graph_settings
):
    connect(organisation, graph_settings)
    do_create_account(organisation, email=PERSON, password=PASSWORD, name="Alice")
    do_create_account(organisation, email="mia@acme.test", password=PASSWORD, name="Mia")
    answers = [html.unescape(answer) for answer in run_test_settings(admin_client,
                                                                    also_write=True)]
    assert all("m365-step-ok" in answer for answer in answers)
    assert "2 of 3 members have no mailbox in the tenant" in answers[1]
    assert f"wrote a test event in the calendar of {PERSON} with the room invited" in answers[3]
    page = html.unescape(admin_client.get(reverse("microsoft365")).text)
    assert "2 of 3 members have no mailbox in the tenant" in page  # Settings keeps saying it


def test_test_settings_refuses_a_form_holding_unsaved_or_invalid_values(
    admin_client, organisation, graph_settings
):
    connection = connect(organisation, graph_settings)
    saved = {"client_id": connection.client_id, "tenant_id": connection.tenant_id,
             "secret_expires_on": "2099-01-01", "write_mode": connection.write_mode,
             "client_secret": ""}
    htmx = {"HX-Request": "true"}
    unsaved = admin_client.post(reverse("microsoft365_test"),
                                saved | {"write_mode": "room"}, headers=htmx)
    assert "The form holds changes that are not saved (Where bookings are written)" in (
        html.unescape(unsaved.text))
    assert "Save the changes first" in unsaved.text
    invalid = admin_client.post(reverse("microsoft365_test"),
                                saved | {"tenant_id": "not a tenant"}, headers=htmx)
    assert "The form holds values that are not valid (Tenant ID)" in html.unescape(invalid.text)
    assert Connection.objects.get().last_test_at is None  # nothing was tested
    same = admin_client.post(reverse("microsoft365_test"), saved, headers=htmx)
    assert reverse("microsoft365_test_step", args=[0]) in same.text
    refused_save = admin_client.post(reverse("microsoft365"),
                                     form_data(tenant_id="not a tenant"))
    assert "Correct the fields marked in red and Save first" in refused_save.text
    assert re.search(r'<button type="submit" class="button primary" disabled>Test settings',
                     refused_save.text)


def test_without_htmx_test_settings_runs_every_step_and_shows_them(
    admin_client, organisation, graph_settings
):
    connect(organisation, graph_settings)
    response = admin_client.post(reverse("microsoft365_test"), follow=True)
    assert response.text.count("m365-step m365-step-ok") == len(STEPS)


def token_step(admin_client) -> str:
    answers = run_test_settings(admin_client)
    assert all("m365-step-failed" in answer for answer in answers)
    assert all("Skipped: no token" in answer for answer in answers[1:])
    assert "Some steps failed" in answers[-1]
    return answers[0]


def test_an_unknown_tenant_says_where_to_copy_the_tenant_id(
    admin_client, organisation, graph_settings
):
    connect(organisation, graph_settings, tenant_id="0b7e9a2c-0000-4000-8000-000000000000")
    step = token_step(admin_client)
    assert "There is no Microsoft Entra tenant" in step
    assert "Copy the Directory (tenant) ID" in step


def test_a_malformed_tenant_is_explained(admin_client, organisation, graph_settings):
    connection = connect(organisation, graph_settings)
    Connection.objects.filter(pk=connection.pk).update(tenant_id="not a tenant!")
    step = token_step(admin_client)
    assert "is neither a tenant ID nor a domain name" in step
    assert "a GUID like" in step


def test_an_unknown_app_says_which_client_id(admin_client, organisation, graph_settings):
    unknown = "5f0c1d2e-1111-4222-8333-444455556666"
    connect(organisation, graph_settings, client_id=unknown)
    step = token_step(admin_client)
    assert f"has no app with the Client ID {unknown}" in step
    assert "Application (client) ID" in step


def test_a_pasted_secret_id_is_recognised(admin_client, organisation, graph_settings):
    # The form refuses a GUID secret; an older installation may have stored one.
    connection = connect(organisation, graph_settings)
    Connection.objects.filter(pk=connection.pk).update(
        client_secret_encrypted=crypto.encrypt(app_named(graph_settings, "openrooms")["secret_id"]))
    step = token_step(admin_client)
    assert "the secret&#x27;s ID was pasted instead of its Value" in step
    assert "Value column" in step


def test_an_expired_secret_says_how_to_create_a_new_one(admin_client, organisation, graph_settings):
    connect(organisation, graph_settings, "openrooms-expired-secret")
    step = token_step(admin_client)
    assert "The client secret has expired." in step
    assert "New client secret" in step


def test_missing_calendar_consent_names_calendars_readwrite(
    admin_client, organisation, graph_settings
):
    connect(organisation, graph_settings, "openrooms-no-calendar-consent")
    answers = run_test_settings(admin_client)
    assert [("m365-step-ok" in a) for a in answers] == [True, True, True, False]
    assert "no admin consent for the application permission Calendars.ReadWrite" in answers[3]
    assert "Grant admin consent" in answers[3]


def test_missing_directory_consent_names_directory_read_all(
    admin_client, organisation, graph_settings
):
    connect(organisation, graph_settings, "openrooms-rooms-only")
    answers = run_test_settings(admin_client)
    assert "m365-step-ok" in answers[0] and "m365-step-failed" in answers[1]
    assert "no admin consent for the application permission Directory.Read.All" in answers[1]
    assert "Application permissions → Directory.Read.All" in answers[1]


def test_a_secret_encrypted_with_a_lost_key_asks_for_the_secret_again(
    admin_client, organisation, graph_settings
):
    connection = connect(organisation, graph_settings)
    Connection.objects.filter(pk=connection.pk).update(client_secret_encrypted="gAAAA-broken")
    answers = run_test_settings(admin_client)
    assert "cannot be decrypted" in answers[0] and "Enter the client secret again" in answers[0]


# Secret expiry


@pytest.mark.parametrize(("days_left", "shown"), [
    (31, None), (30, "expires in 30 days"), (14, "expires in 14 days"),
    (1, "expires tomorrow"), (0, "expires today"), (-2, "expired on"),
])
def test_the_office_365_page_warns_before_the_secret_expires(
    admin_client, organisation, days_left, shown
):
    expires = timezone.localdate() + dt.timedelta(days=days_left)
    saved_on = max(expires, timezone.localdate())  # Save refuses a date already past
    admin_client.post(reverse("microsoft365"), form_data(secret_expires_on=saved_on.isoformat()))
    Connection.objects.update(secret_expires_on=expires)  # the days go by
    for url in (reverse("microsoft365"), reverse("microsoft365_rooms")):
        page = admin_client.get(url).text
        if shown is None:
            assert "m365-banner" not in page
        else:
            assert page.count('class="m365-banner') == 1
            assert shown in page and "New client secret" in page


def test_the_banner_tag_shows_once_per_page_and_only_to_admins(admin, member, organisation):
    do_save_connection(
        organisation, tenant_id=TENANT, client_id=CLIENT, client_secret="a~secret",
        secret_expires_on=timezone.localdate() + dt.timedelta(days=14), write_mode="booker",
    )
    template = Template(
        "{% load microsoft365 %}{% microsoft365_expiry_banner %}{% microsoft365_expiry_banner %}")
    request = RequestFactory().get("/settings/offices/")
    request.user = admin
    assert template.render(Context({"request": request})).count("expires in 14 days") == 1
    request.user = member
    assert "m365-banner" not in template.render(Context({"request": request}))


def test_admins_are_emailed_30_14_and_1_days_before_and_the_day_after(
    organisation, other_organisation, member
):
    today = dt.date(2027, 3, 1)
    do_save_connection(
        organisation, tenant_id=TENANT, client_id=CLIENT, client_secret="a~secret",
        secret_expires_on=today, write_mode="booker",
    )
    sent_on = []
    for offset in range(-40, 5):
        mail.outbox.clear()
        day = today + dt.timedelta(days=offset)
        if email_secret_expiry_warnings(day):
            sent_on.append(offset)
            assert [m.to for m in mail.outbox] == [["admin@acme.test"]]  # not the member
    assert sent_on == [-30, -14, -1, 1]
    mail.outbox.clear()
    call_command("send_secret_expiry_warnings", "--today", "2027-02-15")
    [message] = mail.outbox
    assert "expires in 14 days" in str(message.subject) + str(message.body)
    assert "New client secret" in message.body and "a~secret" not in message.body


# Disconnect and help


def test_disconnect_asks_first_and_keeps_the_rooms(
    admin_client, organisation, office, graph_settings
):
    connect(organisation, graph_settings)
    link = imported_link(organisation, office)
    page = admin_client.get(reverse("microsoft365_disconnect"))
    assert "Disconnect Office 365?" in page.text and "1 imported room" in page.text
    assert Connection.objects.exists()
    response = admin_client.post(reverse("microsoft365_disconnect"), follow=True)
    assert "Office 365 disconnected" in response.text and "Not connected" in response.text
    assert not Connection.objects.exists()
    assert RoomLink.objects.filter(pk=link.pk).exists() and Space.objects.filter(
        pk=link.space_id).exists()


def test_the_help_page_writes_out_every_step_and_command(admin_client):
    page = admin_client.get(reverse("microsoft365_help")).text
    for text in (
        "Accounts in this organizational directory only", "Redirect URI", "Secret ID",
        "Directory.Read.All", "Calendars.ReadWrite", "Place.Read.All", "Application permissions",
        "Grant admin consent", "Directory (tenant) ID",
        "New-ServicePrincipal -AppId", "New-ManagementScope -Name",
        "-RecipientRestrictionFilter \"RecipientTypeDetails -eq 'RoomMailbox'\"",
        "New-ManagementRoleAssignment -App", "-Role \"Application Calendars.ReadWrite\"",
        "-CustomResourceScope", "Test-ServicePrincipalAuthorization",
        "New-ApplicationAccessPolicy", "-AccessRight RestrictAccess",
        "Hybrid Exchange is not supported",
    ):
        assert text in html.unescape(page), text


# Manage Rooms


@pytest.fixture
def connected(organisation, graph_settings) -> Connection:
    return connect(organisation, graph_settings)


def test_the_meeting_rooms_page_says_what_the_connection_state_allows(
    admin_client, organisation, graph_settings
):
    page = admin_client.get(reverse("settings_meeting_rooms")).text
    assert "Connect Office 365 to import the room mailboxes" in page
    assert "Office 365 is connected" not in page and reverse("microsoft365") in page
    connect(organisation, graph_settings)
    page = admin_client.get(reverse("settings_meeting_rooms")).text
    assert "Office 365 is connected: import the room mailboxes" in page
    assert "Connect Office 365 to import" not in page and reverse("microsoft365_rooms") in page


def test_without_a_connection_manage_rooms_links_to_office_365(admin_client, office):
    page = admin_client.get(reverse("microsoft365_rooms")).text
    assert "Connect Office 365 first" in page and reverse("microsoft365") in page
    assert "hx-get" not in page


def test_the_listing_loads_with_a_progress_line_and_shows_every_room(
    admin_client, office, connected
):
    page = admin_client.get(reverse("microsoft365_rooms")).text
    assert "Loading rooms from Microsoft 365…" in page and 'hx-trigger="load"' in page
    assert "up to 24 hours" in page
    listing = admin_client.get(reverse("microsoft365_room_listing"), {"office": office.pk})
    assert "123 of 123 rooms" in listing.text
    assert SEINE in listing.text and "gen-room-110@" in listing.text  # the second page
    assert NEW_ROOM not in listing.text
    row = re.search(rf"<tr>\s*<td><input[^>]*value=\"{SEINE}\".*?</tr>", listing.text, re.S)
    assert row and "Paris HQ" in row.group(0) and "<td>4</td>" in row.group(0)


def test_the_listing_filters_by_room_list_and_building(admin_client, office, connected):
    listing = admin_client.get(reverse("microsoft365_room_listing"), {"office": office.pk})
    lists = re.findall(r"<option>([^<]+)</option>", listing.text)
    assert "Paris HQ" in lists
    by_building = admin_client.get(
        reverse("microsoft365_room_listing"), {"office": office.pk, "building": "Paris HQ"}).text
    assert SEINE in by_building and SAONE not in by_building
    found = re.search(r"(\d+) of 123 rooms", by_building)
    assert found is not None
    count = int(found.group(1))
    assert 0 < count < 123


def test_importing_two_rooms_creates_linked_room_spaces(admin_client, office, connected):
    response = admin_client.post(
        reverse("microsoft365_import_rooms"),
        {"office": office.pk, "mailbox": [SEINE, SAONE]}, follow=True)
    assert "Imported 2 rooms into London HQ" in response.text
    links = {link.mailbox: link for link in RoomLink.objects.select_related("space")}
    assert set(links) == {SEINE, SAONE}
    seine = links[SEINE].space
    assert seine.office == office and seine.kind == Space.Kind.ROOM and seine.capacity == 4
    assert "wheelchair accessible" in seine.amenities and "video" in seine.amenities
    listing = admin_client.get(reverse("microsoft365_room_listing"), {"office": office.pk}).text
    assert listing.count("Imported into London HQ") == 2


def test_an_import_is_all_or_nothing(admin_client, office, connected):
    response = admin_client.post(
        reverse("microsoft365_import_rooms"),
        {"office": office.pk, "mailbox": [SEINE, "gone@contoso.onmicrosoft.com"]})
    assert "no longer lists gone@contoso.onmicrosoft.com" in response.text
    assert "Nothing was imported" in response.text
    assert not RoomLink.objects.exists() and not Space.objects.filter(kind="room").exists()


@pytest.fixture
def room_lists_fail(emulator_config):
    control = emulator_config["control_url"]
    with httpx.Client(verify=ssl.create_default_context(cafile=emulator_config["ca_file"])) as http:
        http.post(f"{control}/faults", json={
            "kind": "503", "path_contains": "microsoft.graph.roomlist", "retry_after": 0})
        yield
        http.delete(f"{control}/faults")


def test_a_graph_failure_says_which_step_failed_and_imports_nothing(
    admin_client, office, connected, room_lists_fail
):
    listing = admin_client.get(reverse("microsoft365_room_listing"), {"office": office.pk})
    assert listing.status_code == 200  # htmx swaps it in
    assert "Reading the room lists failed." in listing.text
    assert "test again in a few minutes" in listing.text
    response = admin_client.post(
        reverse("microsoft365_import_rooms"), {"office": office.pk, "mailbox": [SEINE]})
    assert "Reading the room lists failed." in response.text
    assert "Nothing was imported." in response.text
    assert not RoomLink.objects.exists()


def test_a_refused_token_is_explained_on_the_listing(
    admin_client, organisation, office, graph_settings
):
    connect(organisation, graph_settings, "openrooms-expired-secret")
    listing = admin_client.get(reverse("microsoft365_room_listing"), {"office": office.pk}).text
    assert "Listing the rooms failed." in listing and "The client secret has expired." in listing


def test_a_room_not_yet_in_places_is_added_by_its_mailbox(admin_client, office, connected):
    response = admin_client.post(
        reverse("microsoft365_add_room"), {"office": office.pk, "mailbox": NEW_ROOM.upper()},
        follow=True)
    assert f"({NEW_ROOM}) to London HQ" in response.text
    link = RoomLink.objects.get(mailbox=NEW_ROOM)
    assert link.space.office == office


def test_an_on_premises_room_is_refused_as_hybrid(admin_client, office, connected):
    response = admin_client.post(
        reverse("microsoft365_add_room"), {"office": office.pk, "mailbox": ON_PREMISES_ROOM})
    assert response.status_code == 422
    assert f"{ON_PREMISES_ROOM} is hosted in on-premises Exchange." in response.text
    assert "Hybrid deployments are not supported" in response.text
    assert not RoomLink.objects.exists()


@pytest.mark.parametrize("person", [PERSON, PERSON.upper(), ON_PREMISES_PERSON])
def test_a_persons_mailbox_is_refused_as_a_room(admin_client, office, connected, person):
    response = admin_client.post(
        reverse("microsoft365_add_room"), {"office": office.pk, "mailbox": person})
    assert response.status_code == 422
    page = html.unescape(response.text)
    if person == ON_PREMISES_PERSON:
        assert "is hosted in on-premises Exchange" in page
    else:
        assert f"{PERSON} is a person's mailbox, not a room" in page
        assert "would show on the Book page and the plan to every member" in page
    assert not RoomLink.objects.exists() and not Space.objects.filter(kind="room").exists()


def test_a_room_list_is_not_a_room(admin_client, office, connected):
    response = admin_client.post(
        reverse("microsoft365_add_room"),
        {"office": office.pk, "mailbox": "paris-rooms@contoso.onmicrosoft.com"})
    assert response.status_code == 422 and "is a room list" in response.text
    assert not RoomLink.objects.exists()


def test_an_on_premises_room_listed_in_places_is_refused_at_import(
    admin_client, office, connected
):
    response = admin_client.post(
        reverse("microsoft365_import_rooms"),
        {"office": office.pk, "mailbox": [SEINE, ON_PREMISES_ROOM]}, follow=True)
    page = html.unescape(response.text)
    assert f"Not imported: {ON_PREMISES_ROOM} is hosted in on-premises Exchange." in page
    assert "Hybrid deployments are not supported" in page
    assert "Imported 1 room into London HQ" in page
    assert set(RoomLink.objects.values_list("mailbox", flat=True)) == {SEINE}


def test_a_malformed_mailbox_address_is_a_form_error(admin_client, office, connected):
    response = admin_client.post(
        reverse("microsoft365_add_room"), {"office": office.pk, "mailbox": "not-an-address"})
    assert response.status_code == 400 and "Enter a valid email address." in response.text


def test_reimport_updates_the_linked_room(admin_client, office, connected):
    admin_client.post(reverse("microsoft365_import_rooms"), {"office": office.pk,
                                                            "mailbox": [SEINE]})
    link = RoomLink.objects.get()
    Space.objects.filter(pk=link.space_id).update(capacity=99, name="Renamed")
    response = admin_client.post(
        reverse("microsoft365_reimport_room", args=[link.pk]), follow=True)
    assert "Updated Paris HQ Seine from Microsoft 365" in response.text
    space = Space.objects.get(pk=link.space_id)
    assert space.capacity == 4 and space.name == "Paris HQ Seine"
    assert RoomLink.objects.count() == 1


def test_unlinking_asks_first_and_keeps_the_space(admin_client, organisation, office, connected):
    link = imported_link(organisation, office)
    page = admin_client.get(reverse("microsoft365_unlink_room", args=[link.pk])).text
    assert "Unlink “Keep”?" in page and "bookings stay" in page
    response = admin_client.post(
        reverse("microsoft365_unlink_room", args=[link.pk]), follow=True)
    assert "no longer linked" in response.text
    assert not RoomLink.objects.exists() and Space.objects.filter(pk=link.space_id).exists()


def test_the_integrations_card_shows_the_status_and_last_test(admin, organisation, graph_settings):
    template = Template("{% load microsoft365 %}{% microsoft365_integration_card %}")
    request = RequestFactory().get("/settings/integrations/")
    request.user = admin
    assert "Not connected" in template.render(Context({"request": request}))
    connection = connect(organisation, graph_settings)
    request.method = "POST"
    views.run_test_step(request, connection, 0, False)  # type: ignore[arg-type]  # a signed-in request
    card = template.render(Context({"request": request}))
    assert reverse("microsoft365") in card and "Last tested" in card
    assert "all steps passed" in card and "Connected" in card


def test_actions_answer_post_only_and_unknown_steps_are_404(admin_client, organisation, office):
    for name, args in (("microsoft365_test", []), ("microsoft365_test_step", [0]),
                       ("microsoft365_import_rooms", []), ("microsoft365_add_room", [])):
        assert admin_client.get(reverse(name, args=args)).status_code == 405
    assert admin_client.post(reverse("microsoft365_test")).status_code == 404  # not connected
    do_save_connection(
        organisation, tenant_id=TENANT, client_id=CLIENT, client_secret="a~secret",
        secret_expires_on=None, write_mode="booker",
    )
    assert admin_client.post(
        reverse("microsoft365_test_step", args=[len(STEPS)])).status_code == 404


def test_a_mailbox_outside_the_apps_scope_says_how_the_scope_is_set(
    admin_client, organisation, office, graph_settings
):
    connect(organisation, graph_settings, "openrooms-rooms-only")
    person = "alice@" + graph_settings["tenant_domain"]
    response = admin_client.post(
        reverse("microsoft365_add_room"), {"office": office.pk, "mailbox": person})
    assert f"The app may not open the mailbox {person}." in response.text
    assert "Test-ServicePrincipalAuthorization" in response.text
    assert not RoomLink.objects.exists()


def test_a_room_from_the_second_page_of_places_is_imported(admin_client, office, connected):
    last = "gen-room-110@contoso.onmicrosoft.com"
    response = admin_client.post(
        reverse("microsoft365_import_rooms"), {"office": office.pk, "mailbox": [last]},
        follow=True)
    assert "Imported 1 room into London HQ" in response.text
    assert RoomLink.objects.get().mailbox == last


def test_the_settings_area_links_to_these_pages(admin_client):
    assert reverse("microsoft365") in admin_client.get(reverse("settings_integrations")).text
    # Not connected yet: Meeting Rooms leads to connecting first (then to Manage Rooms).
    assert reverse("microsoft365") in admin_client.get(reverse("settings_meeting_rooms")).text


def test_the_banner_shows_once_when_the_layout_and_the_page_both_ask(
    admin, organisation, settings
):
    """settings/base.html may show the banner on every settings page; these pages ask too."""
    do_save_connection(
        organisation, tenant_id=TENANT, client_id=CLIENT, client_secret="a~secret",
        secret_expires_on=timezone.localdate() + dt.timedelta(days=1), write_mode="booker",
    )
    banner = "{% load microsoft365 %}{% microsoft365_expiry_banner %}"
    templates = {
        "layout.html": banner + "{% block content %}{% endblock %}",
        "page.html": "{% extends 'layout.html' %}{% block content %}" + banner + "{% endblock %}",
    }
    options = {k: v for k, v in settings.TEMPLATES[0]["OPTIONS"].items() if k != "loaders"}
    settings.TEMPLATES = [{
        **settings.TEMPLATES[0], "APP_DIRS": False,
        "OPTIONS": {**options, "loaders": [
            ("django.template.loaders.locmem.Loader", templates),
            "django.template.loaders.app_directories.Loader",
        ]},
    }]
    request = RequestFactory().get("/settings/offices/")
    request.user = admin
    page = render_to_string("page.html", request=request)
    assert page.count("expires tomorrow") == 1
