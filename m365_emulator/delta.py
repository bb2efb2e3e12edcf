"""Opaque state tokens for calendarView/delta rounds.

A deltaLink token carries the window and the store's change cursor (so it survives a restart
with --state-file); a skipToken names a server-side page snapshot taken when the round started.
Tokens die with 410 Gone / SyncStateNotFound when too old or invalidated through the control API
("Get incremental changes to events in a calendar view": tokens encode the window, clients must
not resend parameters; 410 means start a full sync again).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .errors import GraphError


@dataclass
class DeltaState:
    user_id: str
    start: str
    end: str
    since: int | None


@dataclass
class _Snapshot:
    state: DeltaState
    items: list[dict[str, Any]]
    cursor: int
    created: float


class DeltaTokens:
    def __init__(self, *, max_age_seconds: float = 7 * 24 * 3600) -> None:
        self.max_age_seconds = max_age_seconds
        self._lock = threading.Lock()
        self._generation: dict[str, int] = {}
        self._pages: dict[str, _Snapshot] = {}

    def invalidate(self, user_id: str | None = None) -> None:
        """Every token issued so far (for one mailbox, or all) now answers 410."""
        with self._lock:
            keys = [user_id] if user_id else [*self._generation, "*"]
            for key in keys:
                self._generation[key] = self._generation.get(key, 0) + 1
            self._pages = {k: v for k, v in self._pages.items()
                           if user_id not in (None, v.state.user_id)}

    def _gen(self, user_id: str) -> list[int]:
        return [self._generation.get(user_id, 0), self._generation.get("*", 0)]

    def delta_token(self, user_id: str, start: str, end: str, cursor: int) -> str:
        with self._lock:
            payload = {"u": user_id, "s": start, "e": end, "c": cursor, "g": self._gen(user_id),
                       "t": time.time()}
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    def read_delta_token(self, token: str, user_id: str) -> DeltaState:
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            state = DeltaState(raw["u"], raw["s"], raw["e"], int(raw["c"]))
        except (ValueError, KeyError, TypeError):
            raise _gone() from None
        with self._lock:
            stale = raw.get("g") != self._gen(user_id)
        too_old = time.time() - raw.get("t", 0) > self.max_age_seconds
        if state.user_id != user_id or stale or too_old:
            raise _gone()
        return state

    def save_pages(self, state: DeltaState, items: list[dict[str, Any]], cursor: int) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            now = time.time()
            self._pages = {k: v for k, v in self._pages.items()
                           if now - v.created < self.max_age_seconds}
            self._pages[token] = _Snapshot(state, items, cursor, now)
        return token

    def take_pages(self, token: str, user_id: str) -> tuple[DeltaState, list[dict[str, Any]], int]:
        with self._lock:
            snapshot = self._pages.pop(token, None)
        if snapshot is None or snapshot.state.user_id != user_id:
            raise _gone()
        return snapshot.state, snapshot.items, snapshot.cursor


def _gone() -> GraphError:
    return GraphError(410, "SyncStateNotFound",
                      "The sync state generation is no longer valid. Start a full sync again.")
