"""The /api/v1 router: bearer-token auth, the product's JSON error format, each app's endpoints."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaValidationError
from ninja.security import HttpBearer

from openrooms.accounts.models import Account
from openrooms.accounts.services import authenticate_api_token
from openrooms.bookings.errors import BookingError
from openrooms.json_errors import answer_to, error_body, invalid


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
    return api.create_response(request, error_body(code, message, **extra), status=status)


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


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """Ninja's own refusals: a body that cannot be read as JSON (400)."""
    if exc.status_code == 400:
        return error(request, 400, "bad_request", "The request body is not JSON.")
    return error(request, exc.status_code, "error", str(exc))


@api.exception_handler(SchemaValidationError)
def on_schema_error(request: HttpRequest, exc: SchemaValidationError) -> HttpResponse:
    fields = {}
    for item in exc.errors:
        location = [str(part) for part in item.get("loc", []) if part not in ("body", "payload")]
        message = str(item.get("msg", "Invalid value."))
        fields[".".join(location) or "request"] = message.removeprefix("Value error, ")
    status, body = invalid(fields)
    return api.create_response(request, body, status=status)


def on_refusal(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A refusal the product knows (json_errors.answer_to), in the product's one format."""
    answer = answer_to(exc)
    if answer is None:
        raise exc
    status, body = answer
    return api.create_response(request, body, status=status)


for refusal in (Http404, PermissionDenied, ValidationError, BookingError):
    api.add_exception_handler(refusal, on_refusal)  # type: ignore[arg-type]  # ninja passes the instance

api.add_router("/", "openrooms.spaces.api.router")
api.add_router("/", "openrooms.bookings.api.router")
