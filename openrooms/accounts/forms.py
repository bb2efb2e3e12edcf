"""The accounts forms: sign-in by email, inviting a member, a role, booking rules, API tokens."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator

from openrooms.accounts.models import Account, Organisation
from openrooms.accounts.sign_in import (
    SignInLocked,
    access_sign_in,
    client_address,
    do_clear_failed_sign_ins,
    do_record_failed_sign_in,
)
from openrooms.forms import TextChecks


class EmailAuthenticationForm(TextChecks, AuthenticationForm):
    """Sign-in by e-mail (any case), throttled per account and per client address."""

    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account.",
    }

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        if not email or not self.cleaned_data.get("password"):
            return super().clean()
        address = client_address(self.request) if self.request else ""
        try:
            access_sign_in(email, address)
        except SignInLocked as locked:
            raise ValidationError(locked.message, code="locked") from None
        try:
            cleaned = super().clean()
        except ValidationError as error:
            if error.code == "invalid_login":
                do_record_failed_sign_in(email, address)
            raise
        do_clear_failed_sign_ins(email)
        return cleaned


class InviteForm(TextChecks, forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    name = forms.CharField(max_length=200, required=False)
    role = forms.ChoiceField(choices=Account.Role.choices, initial=Account.Role.MEMBER)
    password = forms.CharField(
        label="Initial password",
        help_text="Give it to the new member; at least 8 characters, not a common one.",
        # The admin types it to pass it on, so a mistake elsewhere in the form keeps it.
        widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password"}),
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Account.Role.choices)


class BookingRulesForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ["max_booking_minutes", "max_days_ahead", "show_meeting_subjects"]
        labels = {
            "max_booking_minutes": "Longest booking (minutes)",
            "max_days_ahead": "Book at most this many days ahead",
            "show_meeting_subjects": "Show meeting subjects",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Shorter than a quarter of an hour would forbid every booking the day view offers.
        self.fields["max_booking_minutes"].validators.append(MinValueValidator(15))
        self.fields["max_booking_minutes"].widget.attrs.update(min=15, step=15)


class ApiTokenForm(TextChecks, forms.Form):
    name = forms.CharField(
        max_length=100, required=False, help_text="What the token is for, e.g. “reporting script”."
    )

