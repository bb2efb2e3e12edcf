"""Sign-in throttling (per account and per client address, with a lock that ends) and e-mail
addresses that compare without case, at sign-in, at account creation and in the migration."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest
from django.apps import apps as installed_apps
from django.contrib.auth.hashers import check_password as real_check_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from openrooms.accounts import sign_in
from openrooms.accounts.models import Account
from openrooms.accounts.services import do_create_account
from openrooms.conftest import PASSWORD

LOGIN = "/accounts/login/"


def try_sign_in(client: Client, email: str, password: str) -> str:
    response = client.post(LOGIN, {"username": email, "password": password})
    return "signed in" if response.status_code == 302 else response.content.decode()


real_now = timezone.now


def later(monkeypatch: pytest.MonkeyPatch, minutes: float) -> None:
    """The clock `minutes` after the real now (not after an earlier move)."""
    moved = real_now() + dt.timedelta(minutes=minutes)
    monkeypatch.setattr(sign_in.timezone, "now", lambda: moved)


def test_ten_wrong_passwords_lock_the_account_then_the_lock_ends(member, monkeypatch):
    client = Client()
    for _ in range(9):
        assert "do not match" in try_sign_in(client, "member@acme.test", "wrong")
    page = try_sign_in(client, "member@acme.test", "wrong")  # the tenth
    assert "do not match" in page

    page = try_sign_in(client, "member@acme.test", PASSWORD)
    assert "Too many failed sign-ins for this account. Try again in 15 minutes." in page
    assert "_auth_user_id" not in client.session
    # From another address too: the lock is the account's.
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert "Try again in" in try_sign_in(other, "Member@Acme.test", PASSWORD)

    later(monkeypatch, 10)
    assert "Try again in 5 minutes." in try_sign_in(client, "member@acme.test", PASSWORD)
    later(monkeypatch, 16)
    assert try_sign_in(client, "member@acme.test", PASSWORD) == "signed in"


def test_tries_during_the_lock_neither_extend_it_nor_cost_a_hash(member, monkeypatch):
    hashed: list[str] = []

    def counted_check_password(*args: Any, **kwargs: Any) -> bool:
        hashed.append("hash")
        return real_check_password(*args, **kwargs)

    monkeypatch.setattr("django.contrib.auth.base_user.check_password", counted_check_password)
    client = Client()
    for _ in range(10):
        try_sign_in(client, "member@acme.test", "wrong")
    assert len(hashed) == 10
    hashed.clear()
    for minute in range(14):
        later(monkeypatch, minute)
        assert "Try again in" in try_sign_in(client, "member@acme.test", "wrong")
    assert hashed == []
    later(monkeypatch, 15.5)
    assert try_sign_in(client, "member@acme.test", PASSWORD) == "signed in"


def test_a_success_clears_the_count(member):
    client = Client()
    for _ in range(9):
        try_sign_in(client, "member@acme.test", "wrong")
    assert try_sign_in(client, "member@acme.test", PASSWORD) == "signed in"
    client = Client()
    for _ in range(9):
        try_sign_in(client, "member@acme.test", "wrong")
    assert try_sign_in(client, "member@acme.test", PASSWORD) == "signed in"


def test_failures_older_than_the_window_start_the_count_again(member, monkeypatch):
    client = Client()
    for _ in range(9):
        try_sign_in(client, "member@acme.test", "wrong")
    later(monkeypatch, 16)
    for _ in range(9):
        try_sign_in(client, "member@acme.test", "wrong")
    assert try_sign_in(client, "member@acme.test", PASSWORD) == "signed in"


def test_one_address_trying_many_accounts_is_locked(member, admin):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for number in range(sign_in.ADDRESS_FAILURES):
        try_sign_in(client, f"guess{number}@acme.test", "wrong")
    page = try_sign_in(client, "member@acme.test", PASSWORD)
    assert "Too many failed sign-ins from this network. Try again in 15 minutes." in page
    assert try_sign_in(Client(REMOTE_ADDR="192.0.2.1"), "member@acme.test", PASSWORD) == (
        "signed in"
    )


def test_behind_a_proxy_the_address_is_the_one_the_proxy_appended(settings, member):
    settings.BEHIND_PROXY = True
    forged = "10.0.0.1, 198.51.100.7"
    for number in range(sign_in.ADDRESS_FAILURES):
        client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"{number}.1.1.1, {forged}")
        try_sign_in(client, f"guess{number}@acme.test", "wrong")
    locked = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert "from this network" in try_sign_in(locked, "member@acme.test", PASSWORD)
    other = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert try_sign_in(other, "member@acme.test", PASSWORD) == "signed in"


def test_sign_in_ignores_the_case_of_the_email(member):
    assert try_sign_in(Client(), "  MEMBER@Acme.Test ", PASSWORD) == "signed in"


def test_an_account_cannot_be_created_twice_in_different_cases(organisation, member):
    with pytest.raises(ValidationError, match="already exists"):
        do_create_account(organisation, email="Member@ACME.test", password=PASSWORD)
    assert Account.objects.get(email="member@acme.test") == member


def test_the_database_refuses_two_emails_that_differ_only_by_case(organisation, member):
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(organisation=organisation, email="MEMBER@acme.test")


def test_the_migration_lowers_emails_and_parks_duplicates(organisation, member, django_db_blocker):
    migration = importlib.import_module(
        "openrooms.accounts.migrations.0003_emails_ignore_case_and_sign_in_throttle"
    )
    member.last_login = timezone.now()
    member.save()
    # What an older version could hold: the same address in two cases.
    with transaction.atomic():
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS account_email_unique_ignoring_case")
        old = Account.objects.create(organisation=organisation, email="Member@Acme.TEST")
        mixed = Account.objects.create(organisation=organisation, email="Only@Acme.TEST")
        migration.lower_case_emails(installed_apps, None)
        member.refresh_from_db()
        old.refresh_from_db()
        mixed.refresh_from_db()
        assert member.email == "member@acme.test" and member.is_active
        assert old.email == f"member+duplicate-{old.pk}@acme.test" and not old.is_active
        assert mixed.email == "only@acme.test"
        transaction.set_rollback(True)


PRODUCTION_HASHERS = [
    "openrooms.accounts.hashers.ServiceArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


def test_passwords_are_hashed_with_argon2id_at_owasps_service_settings(settings, organisation):
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    account = do_create_account(organisation, email="nina@acme.test", password=PASSWORD)
    algorithm, variant, _version, parameters, *_ = account.password.split("$")
    assert (algorithm, variant) == ("argon2", "argon2id")
    assert parameters == "m=12288,t=3,p=1"


def test_a_hash_of_djangos_heavier_default_is_made_again_at_the_next_sign_in(
    settings, organisation
):
    from django.contrib.auth.hashers import Argon2PasswordHasher

    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    account = do_create_account(organisation, email="olga@acme.test", password=PASSWORD)
    Account.objects.filter(pk=account.pk).update(
        password=Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt()))
    assert "m=102400,t=2,p=8" in Account.objects.get(pk=account.pk).password
    assert try_sign_in(Client(), "olga@acme.test", PASSWORD) == "signed in"
    assert "m=12288,t=3,p=1" in Account.objects.get(pk=account.pk).password
