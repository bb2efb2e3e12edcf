"""Writes to organisations, accounts and API tokens. Views, the API and commands call these."""

from __future__ import annotations

import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openrooms.accounts.models import Account, ApiToken, Organisation


@transaction.atomic
def do_create_organisation(
    *, name: str, slug: str, admin_email: str, admin_password: str, timezone_name: str = "UTC"
) -> tuple[Organisation, Account]:
    organisation = Organisation(name=name, slug=slug, timezone=timezone_name)
    organisation.full_clean()
    organisation.save()
    admin = do_create_account(
        organisation,
        email=admin_email,
        password=admin_password,
        role=Account.Role.ADMIN,
    )
    return organisation, admin


def do_create_account(
    organisation: Organisation,
    *,
    email: str,
    password: str,
    role: str = Account.Role.MEMBER,
    name: str = "",
) -> Account:
    email = email.strip().lower()
    if Account.objects.filter(email=email).exists():
        raise ValidationError({"email": "An account with this email address already exists."})
    if role not in Account.Role.values:
        raise ValidationError({"role": f"Role must be one of {', '.join(Account.Role.values)}."})
    account = Account(organisation=organisation, email=email, role=role, name=name.strip())
    validate_password(password, account)
    account.set_password(password)
    account.full_clean()
    account.save()
    return account


def do_create_api_token(account: Account, *, name: str = "") -> tuple[ApiToken, str]:
    """Creates a token and returns it with the plain token, which is shown once, never kept."""
    token = ApiToken.PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        account=account, name=name, token_hash=ApiToken.hash(token), hint=token[:10]
    )
    return row, token


def do_revoke_api_token(token: ApiToken) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])


def authenticate_api_token(token: str) -> Account | None:
    """The active account a bearer token belongs to, or None."""
    row = (
        ApiToken.objects.select_related("account__organisation")
        .filter(token_hash=ApiToken.hash(token), revoked_at__isnull=True, account__is_active=True)
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    # One write a minute at most per token, not one per request.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.account
