"""The request type of views that only signed-in accounts reach."""

from __future__ import annotations

from django.http import HttpRequest

from openrooms.accounts.models import Account


class SignedInRequest(HttpRequest):
    """`user` is an account: login_required, admin_required or the API's auth let it in."""

    user: Account
