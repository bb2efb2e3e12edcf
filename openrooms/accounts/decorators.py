"""Who may open a page: signed-in accounts, and administrators for the settings area."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse

from openrooms.accounts.requests import SignedInRequest

View = Callable[..., HttpResponse]


def check_admin(request: SignedInRequest) -> None:
    """403 unless the signed-in account is an administrator.

    Views that take an object id call it *after* loading the object through its `access_*`
    helper: an id of another organisation is then a 404 for everybody, and a 403 never
    confirms that an id exists elsewhere.
    """
    if not request.user.is_admin:
        raise PermissionDenied("Only administrators can open the settings.")


def admin_required(view: View) -> View:
    """For views without an object id: anonymous visitors go to the sign-in page, signed-in
    members get 403."""

    @login_required
    @wraps(view)
    def wrapped(request: SignedInRequest, *args: object, **kwargs: object) -> HttpResponse:
        check_admin(request)
        return view(request, *args, **kwargs)

    return wrapped
