"""The /api/v1 router: bearer-token auth, one JSON error format, and each app's endpoints."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as SchemaValidationError
from ninja.security import HttpBearer

from openrooms.accounts.models import Account
from openrooms.accounts.services import authenticate_api_token
from openrooms.bookings.errors import BookingConflict, BookingError


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Account | None:
        account = authenticate_api_token(token)
        if account is not None:
            request.user = account
        return account


api = NinjaAPI(
    title="openrooms API",
    version="1",
    urls_namespace="api",
    auth=BearerToken(),
    openapi_url="/openapi.json",
    docs_url="/docs",
)


def error(
    request: HttpRequest, status: int, code: str, message: str, **extra: object
) -> HttpResponse:
    return api.create_response(
        request, {"error": {"code": code, "message": message, **extra}}, status=status
    )


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error(
        request,
        401,
        "unauthenticated",
        "Send a valid API token as 'Authorization: Bearer <token>'.",
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error(request, 404, "not_found", str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error(request, 403, "forbidden", str(exc) or "You may not do that.")


@api.exception_handler(SchemaValidationError)
def on_schema_error(request: HttpRequest, exc: SchemaValidationError) -> HttpResponse:
    fields = {}
    for item in exc.errors:
        location = [str(part) for part in item.get("loc", []) if part not in ("body", "payload")]
        fields[".".join(location) or "request"] = item.get("msg", "Invalid value.")
    message = "; ".join(f"{field}: {msg}" for field, msg in fields.items())
    return error(request, 422, "invalid", message, fields=fields)


@api.exception_handler(ValidationError)
def on_model_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields = (
        {field: " ".join(messages) for field, messages in exc.message_dict.items()}
        if hasattr(exc, "error_dict")
        else {"request": " ".join(exc.messages)}
    )
    message = "; ".join(f"{field}: {msg}" for field, msg in fields.items())
    return error(request, 422, "invalid", message, fields=fields)


@api.exception_handler(BookingConflict)
def on_booking_conflict(request: HttpRequest, exc: BookingConflict) -> HttpResponse:
    clash = exc.conflicting
    return error(
        request,
        409,
        "conflict",
        exc.message,
        conflict={
            "booking": clash.pk, "start": clash.start.isoformat(), "end": clash.end.isoformat()
        },
    )


@api.exception_handler(BookingError)
def on_booking_error(request: HttpRequest, exc: BookingError) -> HttpResponse:
    fields = {exc.field: exc.message} if exc.field else {}
    return error(request, 422, "invalid", exc.message, fields=fields)


api.add_router("/", "openrooms.spaces.api.router")
api.add_router("/", "openrooms.bookings.api.router")
