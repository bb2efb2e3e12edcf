"""Test settings against the emulator: every failure an admin can cause in Azure, precisely."""

from __future__ import annotations

import uuid

import pytest

from openrooms.integrations.microsoft365.diagnosis import (
    STEPS,
    Trial,
    run_step,
)
from openrooms.integrations.microsoft365.explain import explain_graph_failure
from openrooms.integrations.microsoft365.graph.failures import GraphFailure
from openrooms.integrations.microsoft365.tests.conftest import app_named, client_of


def run_all(client, *, also_write: bool = False, **trial):
    return {step.key: run_step(step, client, Trial(also_write=also_write, **trial))
            for step in STEPS}


def test_a_fully_consented_app_passes_every_step_including_the_write_probe(full_app, emulator):
    results = run_all(client_of(emulator.config(), full_app), also_write=True)
    assert all(result.ok for result in results.values()), results
    assert results["places"].detail.startswith("Found 123 rooms")
    assert "read and write to the calendar of" in results["calendars"].detail


@pytest.mark.parametrize(
    ("overrides", "detail", "fix"),
    [
        (
            {"tenant_id": "0b7e9a2c-0000-4000-8000-000000000000"},
            "There is no Microsoft Entra tenant",
            "Directory (tenant) ID",
        ),
        ({"tenant_id": "not a tenant!"}, "neither a tenant ID nor a domain", "GUID"),
        (
            {"client_id": "5f0c1d2e-1111-4222-8333-444455556666"},
            "has no app with the Client ID 5f0c1d2e-1111-4222-8333-444455556666",
            "Application (client) ID",
        ),
        ({"client_secret": "SECRET_ID"}, "the secret's ID was pasted", "Value column"),
        ({"client_secret": "wrong~value"}, "refused the client secret", "Value column"),
    ],
)
def test_token_failures_say_what_is_wrong_and_how_to_fix_it(
    full_app, graph_settings, overrides, detail, fix
):
    if overrides.get("client_secret") == "SECRET_ID":
        overrides = {"client_secret": full_app["secret_id"]}
    results = run_all(client_of(graph_settings, full_app, **overrides))
    token = results["token"]
    assert not token.ok
    assert detail in token.detail
    assert fix in token.fix
    assert all(r.detail.startswith("Skipped: no token") for k, r in results.items() if k != "token")


def test_a_tenant_may_be_given_as_its_domain(full_app, graph_settings):
    client = client_of(graph_settings, full_app, tenant_id=graph_settings["tenant_domain"])
    assert run_step(STEPS[0], client, Trial()).ok


def test_an_expired_secret_says_how_to_create_a_new_one(graph_settings):
    expired = app_named(graph_settings, "openrooms-expired-secret")
    token = run_all(client_of(graph_settings, expired))["token"]
    assert not token.ok
    assert token.detail == "The client secret has expired."
    assert "New client secret" in token.fix and "Value" in token.fix


def test_missing_calendar_consent_names_calendars_readwrite(graph_settings):
    app = app_named(graph_settings, "openrooms-no-calendar-consent")
    results = run_all(client_of(graph_settings, app))
    assert results["token"].ok and results["directory"].ok and results["places"].ok
    calendars = results["calendars"]
    assert not calendars.ok
    assert "no admin consent for the application permission Calendars.ReadWrite" in (
        calendars.detail
    )
    assert "Grant admin consent" in calendars.fix


def test_missing_directory_consent_names_directory_read_all(graph_settings):
    app = app_named(graph_settings, "openrooms-rooms-only")
    directory = run_all(client_of(graph_settings, app))["directory"]
    assert not directory.ok
    assert "Directory.Read.All" in directory.detail
    assert "Application permissions → Directory.Read.All" in directory.fix


def test_an_on_premises_room_mailbox_is_reported_as_hybrid_unsupported(full_app, graph_settings):
    client = client_of(graph_settings, full_app)
    mailbox = "legacy-boardroom@" + graph_settings["tenant_domain"]
    with pytest.raises(GraphFailure) as raised:
        client.request("GET", f"users/{mailbox}/calendarView", params={
            "startDateTime": "2030-01-01T00:00:00Z", "endDateTime": "2030-01-02T00:00:00Z"})
    result = explain_graph_failure(raised.value, "calendar", "Calendars.ReadWrite", mailbox)
    assert "on-premises Exchange" in result.detail
    assert "Hybrid deployments are not supported" in result.fix


def test_a_mailbox_outside_the_apps_rbac_scope_says_how_the_scope_is_set(graph_settings):
    app = app_named(graph_settings, "openrooms-rooms-only")
    client = client_of(graph_settings, app)
    user = "alice@" + graph_settings["tenant_domain"]
    with pytest.raises(GraphFailure) as raised:
        client.request("GET", f"users/{user}/calendarView", params={
            "startDateTime": "2030-01-01T00:00:00Z", "endDateTime": "2030-01-02T00:00:00Z"})
    result = explain_graph_failure(raised.value, "calendar", "Calendars.ReadWrite", user)
    assert result.detail == f"The app may not open the mailbox {user}."
    assert "Test-ServicePrincipalAuthorization" in result.fix


def test_an_unreachable_identity_platform_is_a_network_error(full_app, settings):
    settings.MICROSOFT_LOGIN_URL = "https://127.0.0.1:9"  # nothing listens on the discard port
    settings.MICROSOFT_CA_FILE = None
    client = client_of({"tenant_id": str(uuid.uuid4())}, full_app)
    token = run_step(STEPS[0], client, Trial())
    assert not token.ok
    assert "could not be reached" in token.detail
    assert "proxy" in token.fix


PERSON = "alice@contoso.onmicrosoft.com"


def test_in_booker_mode_writing_is_tested_in_the_testers_calendar_with_the_room_invited(
    full_app, emulator
):
    results = run_all(client_of(emulator.config(), full_app), also_write=True,
                      booker_mode=True, tester=PERSON, members=(PERSON,))
    assert results["calendars"].ok, results["calendars"]
    assert f"wrote a test event in the calendar of {PERSON} with the room invited" in (
        results["calendars"].detail)


def test_in_booker_mode_a_tester_without_a_mailbox_tests_with_a_member_who_has_one(
    full_app, emulator
):
    results = run_all(client_of(emulator.config(), full_app), also_write=True,
                      booker_mode=True, tester="admin@acme.test",
                      members=("admin@acme.test", PERSON))
    assert f"in the calendar of {PERSON}" in results["calendars"].detail


def test_in_booker_mode_with_nobody_in_the_tenant_the_write_goes_where_bookings_go(
    full_app, emulator
):
    results = run_all(client_of(emulator.config(), full_app), also_write=True,
                      booker_mode=True, tester="admin@acme.test", members=("admin@acme.test",))
    assert results["calendars"].ok
    assert "No member of this organisation (you included) has a mailbox in the tenant, so " \
        "bookings are written to the rooms' calendars, as this test was." in (
            results["calendars"].detail)
    assert "Settings → Members" in results["calendars"].fix


def test_in_booker_mode_the_directory_step_counts_members_without_a_mailbox(full_app, emulator):
    members = (PERSON, "mia@acme.test", "max@acme.test")
    results = run_all(client_of(emulator.config(), full_app), booker_mode=True,
                      tester=PERSON, members=members)
    directory = results["directory"]
    assert directory.ok
    assert "2 of 3 members have no mailbox in the tenant (mia@acme.test, max@acme.test)" in (
        directory.detail)
    assert "written to the room's calendar instead" in directory.fix
