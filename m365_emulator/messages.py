"""Request and response values passed between the HTTP server and the route modules."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from .errors import GraphError


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # keys lower-cased
    body: bytes = b""
    client_ip: str = "127.0.0.1"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def build(
        cls, method: str, target: str, headers: dict[str, str], body: bytes, client_ip: str
    ) -> Request:
        path, _, qs = target.partition("?")
        query = {k: v[0] for k, v in parse_qs(qs, keep_blank_values=True).items()}
        return cls(method.upper(), path, query, {k.lower(): v for k, v in headers.items()},
                   body, client_ip)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from exc

    @property
    def client_request_id(self) -> str:
        return self.headers.get("client-request-id", self.request_id)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(),
                   {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain") -> Response:
        return cls(status, text.encode(), {"Content-Type": f"{content_type}; charset=utf-8"})

    def json_body(self) -> Any:
        return json.loads(self.body) if self.body else None


def graph_error_body(code: str, message: str, request: Request) -> dict[str, Any]:
    """Graph's error shape, innerError included (see "Microsoft Graph error responses")."""
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request.request_id,
                "client-request-id": request.client_request_id,
            },
        }
    }


def graph_error(error: GraphError, request: Request) -> Response:
    return Response.json(
        error.status, graph_error_body(error.code, error.message, request), error.headers
    )
