"""The one error type the emulator raises; the HTTP layer turns it into Graph's error body."""

from __future__ import annotations


class GraphError(Exception):
    """A Graph error answer: HTTP status, error code and message as Microsoft spells them."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
