"""The product's one JSON error format, answered by the API and the pages' JSON endpoints.

Both answer it alike: `{"error": {"code": ..., "message": ..., "fields": {name: message}, ...}}`.

Codes: bad_request (400: the body is not JSON), unauthenticated (401), forbidden (403),
not_found (404), method_not_allowed (405), conflict (409: the slot is taken; `conflict` names
the booking that holds it), invalid (422: a value is refused; `fields` names it).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse

from openrooms.bookings.errors import BookingConflict, BookingError


class BadInput(ValueError):
    """A request value that cannot be read as what it must be; `field` names it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def error_response(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse(error_body(code, message, **extra), status=status)


def invalid(fields: dict[str, str], message: str | None = None) -> tuple[int, dict[str, Any]]:
    message = message or "; ".join(f"{field}: {text}" for field, text in fields.items())
    return 422, error_body("invalid", message, fields=fields)


def answer_to(error: Exception) -> tuple[int, dict[str, Any]] | None:
    """The status and body that answer `error`, or None when it is not a known refusal (a
    bug: the caller lets it become a 500)."""
    if isinstance(error, Http404):
        return 404, error_body("not_found", str(error) or "Not found.")
    if isinstance(error, PermissionDenied):
        return 403, error_body("forbidden", str(error) or "You may not do that.")
    if isinstance(error, BookingConflict):
        clash = error.conflicting
        return 409, error_body("conflict", error.message, conflict={
            "booking": clash.pk, "start": clash.start.isoformat(), "end": clash.end.isoformat(),
        })
    if isinstance(error, BookingError | BadInput):
        return invalid({error.field: error.message} if error.field else {}, error.message)
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return invalid({field: " ".join(texts) for field, texts in error.message_dict.items()})
        return invalid({"request": " ".join(error.messages)})
    return None


def refusal_response(error: Exception) -> JsonResponse:
    """`error` answered as JSON; an error that is not a known refusal is raised again."""
    answer = answer_to(error)
    if answer is None:
        raise error
    return JsonResponse(answer[1], status=answer[0])
