"""Writes to organisations, accounts and API tokens. Views, the API and commands call these."""

from __future__ import annotations

import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from openrooms.accounts.models import Account, ApiToken, Organisation, normalised_email
from openrooms.spaces.services import get_or_404


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
    email = normalised_email(email)
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


# Members and API tokens as the settings pages see them (added for the web UI).


def members_of(organisation: Organisation) -> QuerySet[Account]:
    """Every account of the organisation, active ones first."""
    return Account.objects.filter(organisation=organisation).order_by("-is_active", "email")


def access_account_by_id(organisation: Organisation, account_id: object) -> Account:
    """The account with this id in `organisation`; 404 for an account of another one."""
    return get_or_404(members_of(organisation), account_id)


def do_change_role(account: Account, *, role: str, acting: Account) -> Account:
    """Makes `account` an admin or a member; nobody demotes themselves (an organisation must
    keep the admin who is looking at the page)."""
    if role not in Account.Role.values:
        raise ValidationError({"role": f"Role must be one of {', '.join(Account.Role.values)}."})
    if account.pk == acting.pk and role != account.role:
        raise ValidationError({"role": "You cannot change your own role."})
    account.role = role
    account.save(update_fields=["role"])
    return account


def do_set_account_active(account: Account, *, active: bool, acting: Account) -> Account:
    """Deactivates (or reactivates) an account: it can no longer sign in nor use its tokens."""
    if account.pk == acting.pk:
        raise ValidationError("You cannot deactivate your own account.")
    account.is_active = active
    account.save(update_fields=["is_active"])
    return account


def do_update_booking_rules(
    organisation: Organisation,
    *,
    max_booking_minutes: int,
    max_days_ahead: int,
    show_meeting_subjects: bool,
) -> Organisation:
    organisation.max_booking_minutes = max_booking_minutes
    organisation.max_days_ahead = max_days_ahead
    organisation.show_meeting_subjects = show_meeting_subjects
    organisation.full_clean()
    organisation.save(
        update_fields=["max_booking_minutes", "max_days_ahead", "show_meeting_subjects"]
    )
    return organisation


def api_tokens_of(account: Account) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(account=account)


def access_api_token_by_id(account: Account, token_id: object) -> ApiToken:
    """One of `account`'s own tokens; 404 for anybody else's."""
    return get_or_404(api_tokens_of(account), token_id)
