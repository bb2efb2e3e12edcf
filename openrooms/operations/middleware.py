"""/healthz and /readyz, answered before any other middleware.

First in the chain so that a load balancer's probe needs no allowed host name (it often sends
the machine's address), no HTTPS redirect, no session and no login. JSON, never cached.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from openrooms.operations.health import readiness

HEALTH_PATHS = {"/healthz", "/readyz"}


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info not in HEALTH_PATHS:
            return self.get_response(request)
        if request.method not in {"GET", "HEAD"}:
            response: HttpResponse = JsonResponse({"error": "Use GET."}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        if request.path_info == "/healthz":
            response = JsonResponse({"status": "alive"})  # nothing else is asked
        else:
            state = readiness()
            response = JsonResponse(state.as_json(), status=state.http_status)
        response["Cache-Control"] = "no-store"
        return response
