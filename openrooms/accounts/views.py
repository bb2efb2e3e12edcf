"""Sign-in, the Members settings page and the signed-in account's API tokens."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from openrooms.accounts.decorators import admin_required, check_admin
from openrooms.accounts.forms import (
    ApiTokenForm,
    BookingRulesForm,
    EmailAuthenticationForm,
    InviteForm,
    RoleForm,
)
from openrooms.accounts.requests import SignedInRequest
from openrooms.accounts.services import (
    access_account_by_id,
    access_api_token_by_id,
    api_tokens_of,
    do_change_role,
    do_create_account,
    do_create_api_token,
    do_revoke_api_token,
    do_set_account_active,
    do_update_booking_rules,
    members_of,
)
from openrooms.forms import add_service_errors


class LoginView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    redirect_authenticated_user = True


def render_members(
    request: SignedInRequest,
    *,
    invite_form: InviteForm | None = None,
    rules_form: BookingRulesForm | None = None,
    status: int = 200,
) -> HttpResponse:
    organisation = request.user.organisation
    return render(
        request,
        "settings/members.html",
        {
            "members": members_of(organisation),
            "invite_form": invite_form or InviteForm(),
            "rules_form": rules_form or BookingRulesForm(instance=organisation),
            "role_choices": cast(forms.ChoiceField, RoleForm.base_fields["role"]).choices,
            "section": "members",
        },
        status=status,
    )


@admin_required
def members(request: SignedInRequest) -> HttpResponse:
    return render_members(request)


@admin_required
@require_POST
def invite_member(request: SignedInRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            account = do_create_account(request.user.organisation, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, f"{account.email} can now sign in with the password you chose."
            )
            return redirect("settings_members")
    return render_members(request, invite_form=form, status=400)


@login_required
@require_POST
def change_role(request: SignedInRequest, account_id: int) -> HttpResponse:
    account = access_account_by_id(request.user.organisation, account_id)
    check_admin(request)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Choose a role.")
        do_change_role(account, role=form.cleaned_data["role"], acting=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{account.email} is now {account.get_role_display().lower()}.")
    return redirect("settings_members")


@login_required
@require_POST
def set_member_active(request: SignedInRequest, account_id: int) -> HttpResponse:
    account = access_account_by_id(request.user.organisation, account_id)
    check_admin(request)
    active = request.POST.get("active") == "1"
    try:
        do_set_account_active(account, active=active, acting=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        state = "reactivated" if active else "deactivated: it can no longer sign in"
        messages.success(request, f"{account.email} is {state}.")
    return redirect("settings_members")


@admin_required
@require_POST
def booking_rules(request: SignedInRequest) -> HttpResponse:
    organisation = request.user.organisation
    form = BookingRulesForm(request.POST, instance=organisation)
    if form.is_valid():
        try:
            do_update_booking_rules(organisation, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Booking rules saved.")
            return redirect("settings_members")
    # The bound form mutated the instance; the rest of the page must not show the bad values.
    organisation.refresh_from_db()
    return render_members(request, rules_form=form, status=400)


@login_required
def api_tokens(request: SignedInRequest) -> HttpResponse:
    """The signed-in account's API tokens; a new token is shown once, on this response only."""
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _, new_token = do_create_api_token(request.user, name=form.cleaned_data["name"])
        form = ApiTokenForm()
    return render(
        request,
        "accounts/api_tokens.html",
        {"tokens": api_tokens_of(request.user), "form": form, "new_token": new_token},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def revoke_api_token(request: SignedInRequest, token_id: int) -> HttpResponse:
    token = access_api_token_by_id(request.user, token_id)
    do_revoke_api_token(token)
    messages.success(request, f"Token {token.hint}… is revoked.")
    return redirect("api_tokens")
