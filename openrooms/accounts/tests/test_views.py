"""Sign-in, the Members settings page and API tokens, over HTTP."""

from __future__ import annotations

import pytest
from django.test import Client

from openrooms.accounts.models import Account, ApiToken
from openrooms.accounts.services import authenticate_api_token, do_create_api_token
from openrooms.conftest import PASSWORD


def test_sign_in_with_email_and_password_opens_the_day_view(client: Client, member):
    page = client.get("/accounts/login/").content.decode()
    assert '<label for="id_username">Email</label>' in page

    response = client.post(
        "/accounts/login/", {"username": "member@acme.test", "password": PASSWORD}
    )

    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_shows_an_error_and_keeps_the_email(client: Client, member):
    response = client.post("/accounts/login/", {"username": "member@acme.test", "password": "no"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "That email and password do not match an account." in page
    assert 'value="member@acme.test"' in page
    assert "_auth_user_id" not in client.session


def test_sign_in_returns_to_the_page_asked_for(client: Client, admin):
    response = client.post(
        "/accounts/login/?next=/settings/members/",
        {"username": "admin@acme.test", "password": PASSWORD, "next": "/settings/members/"},
    )
    assert response["Location"] == "/settings/members/"


def test_sign_out_is_a_post(member_client):
    assert member_client.get("/accounts/logout/").status_code == 405
    response = member_client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert member_client.get("/").status_code == 302


def test_the_top_bar_shows_the_organisation_and_settings_only_to_admins(
    admin_client, member_client
):
    admin_page = admin_client.get("/").content.decode()
    member_page = member_client.get("/").content.decode()
    assert 'class="brand-name">Acme</span>' in member_page
    assert ">Settings</a>" in admin_page and ">Settings</a>" not in member_page
    assert ">Sign out</button>" in member_page


def test_admin_invites_a_member_who_can_sign_in(admin_client, organisation):
    response = admin_client.post(
        "/settings/members/invite/",
        {"email": "New@Acme.test", "name": "Nina New", "role": "member", "password": PASSWORD},
    )
    assert response.status_code == 302
    account = Account.objects.get(email="new@acme.test")
    assert (account.organisation, account.name, account.role) == (
        organisation,
        "Nina New",
        "member",
    )
    page = admin_client.get("/settings/members/").content.decode()
    assert "Nina New" in page and "can now sign in" in page
    assert Client().login(username="new@acme.test", password=PASSWORD)


def test_inviting_a_taken_email_shows_the_error_and_keeps_the_input(admin_client, member):
    response = admin_client.post(
        "/settings/members/invite/",
        {"email": "member@acme.test", "name": "Twin", "role": "admin", "password": PASSWORD},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "An account with this email address already exists." in page
    assert 'value="member@acme.test"' in page and 'value="Twin"' in page
    assert '<option value="admin" selected>' in page
    assert Account.objects.filter(email="member@acme.test").count() == 1


def test_a_weak_initial_password_is_a_field_error(admin_client):
    response = admin_client.post(
        "/settings/members/invite/",
        {"email": "weak@acme.test", "role": "member", "password": "password"},
    )
    assert response.status_code == 400
    assert "too common" in response.content.decode()
    assert not Account.objects.filter(email="weak@acme.test").exists()


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("nina.new@acme.test", "too similar to the email"),
        ("Nina Newcomer7", "too similar to the name"),
        ("4815162342", "entirely numeric"),
    ],
)
def test_a_password_like_the_email_or_name_or_only_digits_is_refused(
    admin_client, password, says
):
    response = admin_client.post(
        "/settings/members/invite/",
        {"email": "nina.new@acme.test", "name": "Nina Newcomer", "role": "member",
         "password": password},
    )
    assert response.status_code == 400
    assert says in response.content.decode()
    assert not Account.objects.filter(email="nina.new@acme.test").exists()


def test_admin_changes_a_members_role(admin_client, member):
    admin_client.post(f"/settings/members/{member.pk}/role/", {"role": "admin"})
    member.refresh_from_db()
    assert member.is_admin


def test_an_admin_cannot_change_their_own_role(admin_client, admin):
    admin_client.post(f"/settings/members/{admin.pk}/role/", {"role": "member"})
    admin.refresh_from_db()
    assert admin.is_admin


def test_admin_deactivates_a_member_who_can_no_longer_sign_in(admin_client, member):
    _, token = do_create_api_token(member)
    response = admin_client.post(f"/settings/members/{member.pk}/active/", {"active": "0"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert not member.is_active
    assert not Client().login(username="member@acme.test", password=PASSWORD)
    assert authenticate_api_token(token) is None

    admin_client.post(f"/settings/members/{member.pk}/active/", {"active": "1"})
    member.refresh_from_db()
    assert member.is_active


def test_an_admin_cannot_deactivate_themselves(admin_client, admin):
    response = admin_client.post(f"/settings/members/{admin.pk}/active/", {"active": "0"})
    admin.refresh_from_db()
    assert admin.is_active
    assert (
        "cannot deactivate your own account"
        in admin_client.get(response["Location"]).content.decode()
    )


def test_accounts_of_another_organisation_are_404(admin_client, outsider):
    role = admin_client.post(f"/settings/members/{outsider.pk}/role/", {"role": "admin"})
    active = admin_client.post(f"/settings/members/{outsider.pk}/active/", {"active": "0"})
    assert (role.status_code, active.status_code) == (404, 404)
    outsider.refresh_from_db()
    assert outsider.is_active and not outsider.is_admin
    assert "outsider@globex.test" not in admin_client.get("/settings/members/").content.decode()


def test_a_member_cannot_manage_members(member_client, admin):
    assert (
        member_client.post(f"/settings/members/{admin.pk}/role/", {"role": "member"}).status_code
        == 403
    )
    assert (
        member_client.post(f"/settings/members/{admin.pk}/active/", {"active": "0"}).status_code
        == 403
    )
    admin.refresh_from_db()
    assert admin.is_admin and admin.is_active


def test_admin_sets_the_booking_rules(admin_client, organisation):
    response = admin_client.post(
        "/settings/booking-rules/",
        {"max_booking_minutes": "240", "max_days_ahead": "30", "show_meeting_subjects": "on"},
    )
    assert response.status_code == 302
    organisation.refresh_from_db()
    assert (
        organisation.max_booking_minutes,
        organisation.max_days_ahead,
        organisation.show_meeting_subjects,
    ) == (240, 30, True)


def test_bad_booking_rules_are_refused_keeping_the_input(admin_client, organisation):
    response = admin_client.post(
        "/settings/booking-rules/", {"max_booking_minutes": "5", "max_days_ahead": "-1"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "greater than or equal to 15" in page and "greater than or equal to 0" in page
    assert 'value="5"' in page and 'value="-1"' in page
    organisation.refresh_from_db()
    assert organisation.max_booking_minutes == 12 * 60


def test_a_member_creates_an_api_token_shown_once(member_client, member):
    response = member_client.post("/accounts/tokens/", {"name": "reporting"})
    page = response.content.decode()
    row = ApiToken.objects.get(account=member)
    shown = page.split('id="new-token" class="token" type="text" readonly value="')[1].split('"')[0]
    assert authenticate_api_token(shown) == member
    assert row.name == "reporting" and shown.startswith(row.hint)
    listing = member_client.get("/accounts/tokens/").content.decode()
    assert row.hint in listing and shown not in listing


def test_a_member_revokes_a_token(member_client, member):
    row, token = do_create_api_token(member)
    response = member_client.post(f"/accounts/tokens/{row.pk}/revoke/")
    assert response.status_code == 302
    assert authenticate_api_token(token) is None


def test_tokens_of_other_accounts_are_404(member_client, admin, outsider):
    for account in (admin, outsider):
        row, token = do_create_api_token(account)
        assert member_client.post(f"/accounts/tokens/{row.pk}/revoke/").status_code == 404
        assert authenticate_api_token(token) == account


def test_a_member_sees_a_friendly_403_page(member_client):
    response = member_client.get("/settings/offices/")
    assert response.status_code == 403
    assert "You can’t open this page" in response.content.decode()


def test_an_unknown_page_is_a_friendly_404(member_client):
    response = member_client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Not found" in response.content.decode()
