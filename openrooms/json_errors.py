"""The product's one JSON error format, answered by the API and the pages' JSON endpoints.

Both answer it alike: `{"error": {"code": ..., "message": ..., "fields": {name: message}, ...}}`.

Codes: bad_request (400: the body is not JSON), unauthenticated (401), forbidden (403),
not_found (404), method_not_allowed (405), conflict (409: the slot is taken; `conflict` names
the booking that holds it), cancelled (409: the booking was cancelled), invalid (422: a value
is refused; `fields` names it).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from ninja import Schema

from openrooms.bookings.errors import BookingCancelled, BookingConflict, BookingError
from openrooms.input_checks import BadInput

# Every operation of the API may answer these: a body that is not JSON or is too large, no
# valid token, a refused value.
COMMON_ERROR_STATUSES = (400, 401, 413, 422)


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
    if isinstance(error, BookingCancelled):
        return 409, error_body("cancelled", error.message)
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


class ConflictOut(Schema):
    booking: int
    start: str
    end: str


class ErrorDetailOut(Schema):
    code: str
    message: str
    fields: dict[str, str] | None = None
    conflict: ConflictOut | None = None


class ErrorOut(Schema):
    """The error format above, as the OpenAPI document declares it."""

    error: ErrorDetailOut


def answers(success: dict[int, Any], *error_statuses: int) -> dict[int, Any]:
    """An operation's `response=`: its success, the errors every operation may answer and its
    own (403 for administrators' operations, 404 for a lookup, 409 for a taken slot)."""
    return {**success, **dict.fromkeys((*COMMON_ERROR_STATUSES, *error_statuses), ErrorOut)}
