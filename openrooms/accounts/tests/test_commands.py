"""The operator commands (organisation, account, API token), password hashing and sign-in."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from openrooms import settings as project_settings
from openrooms.accounts.models import Account, ApiToken, Organisation


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_operator_creates_an_organisation_an_account_and_an_api_token():
    run("create_organisation", "--name", "Initech", "--slug", "initech",
        "--admin-email", "Boss@Initech.test", "--admin-password", "tps-reports-42")
    organisation = Organisation.objects.get(slug="initech")
    boss = Account.objects.get(email="boss@initech.test")
    assert boss.organisation == organisation and boss.is_admin

    run("create_account", "--organisation", "initech", "--email", "peter@initech.test",
        "--password", "stapler-9000", "--role", "member")
    peter = Account.objects.get(email="peter@initech.test")
    assert peter.role == "member" and peter.organisation == organisation

    token = run("create_api_token", "--email", "peter@initech.test").strip().splitlines()[-1]
    assert token.startswith("ort_")
    row = ApiToken.objects.get(account=peter)
    assert row.token_hash == ApiToken.hash(token) and token not in row.token_hash
    response = Client(headers={"authorization": f"Bearer {token}"}).get("/api/v1/offices")
    assert response.status_code == 200


@pytest.mark.django_db
def test_commands_explain_bad_input():
    with pytest.raises(CommandError, match="No organisation"):
        run("create_account", "--organisation", "nope", "--email", "a@b.test", "--password", "x")
    with pytest.raises(CommandError, match=r"too short|too common"):
        run("create_organisation", "--name", "A", "--slug", "a", "--admin-email", "a@a.test",
            "--admin-password", "pw")
    assert not Organisation.objects.filter(slug="a").exists()
    with pytest.raises(CommandError, match="No active account"):
        run("create_api_token", "--email", "ghost@nowhere.test")


def test_passwords_are_hashed_with_argon2_in_production():
    # The test settings swap in a fast hasher; the project's own settings module is the truth.
    assert project_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


@pytest.mark.django_db
def test_a_person_signs_in_with_email_and_password(admin):
    client = Client()
    assert client.login(email="ADMIN@acme.test".lower(), password="correct horse battery staple")
    assert not Client().login(email="admin@acme.test", password="wrong")
