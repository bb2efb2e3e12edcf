"""What every request passes first: its body's size cap; and the Content-Security-Policy header
on every answer, unless a view sets its own."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from openrooms.json_errors import error_response


class RequestSizeCapMiddleware:
    """Refuses a body larger than its cap from its Content-Length, before anything reads it:
    a multipart upload (a plan image) up to settings.UPLOAD_MAX_BYTES, any other body up to
    DATA_UPLOAD_MAX_MEMORY_SIZE. The answer is 413, in the API's JSON error format where the
    client sent or wants JSON (the API, the plan's endpoints, Graph's notifications)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads such a body as empty
        multipart = request.content_type == "multipart/form-data"
        cap = settings.UPLOAD_MAX_BYTES if multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if length > cap:
            return too_large(request, cap)
        return self.get_response(request)


def too_large(request: HttpRequest, cap: int) -> HttpResponse:
    message = f"The request body is larger than the {cap // 1024:,} KB this address accepts."
    wants_json = (
        request.path.startswith("/api/")
        or request.content_type == "application/json"
        or "json" in request.headers.get("Accept", "")
    )
    if wants_json:
        return error_response(413, "too_large", message)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class ContentSecurityPolicyMiddleware:
    """Sends settings.CONTENT_SECURITY_POLICY unless a view set its own (e.g. the API docs)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
