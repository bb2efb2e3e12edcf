"""--state-file: the calendars and subscriptions saved as JSON and loaded at start.

They are saved debounced after changes, and on exit, and loaded at start, so a demo survives a
restart."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class StateFile:
    def __init__(self, path: Path | None, snapshot: Callable[[], dict[str, Any]], *,
                 debounce: float = 1.0) -> None:
        self.path = path
        self.snapshot = snapshot
        self.debounce = debounce
        self._dirty_since: float | None = None
        self._lock = threading.Lock()

    def load(self) -> dict[str, Any] | None:
        if self.path is None or not self.path.exists():
            return None
        return json.loads(self.path.read_text())

    def touch(self) -> None:
        """Note a change; the ticker saves once changes have settled for `debounce` seconds."""
        if self.path is not None and self._dirty_since is None:
            self._dirty_since = time.monotonic()

    def save_if_due(self) -> None:
        if self._dirty_since is not None and time.monotonic() - self._dirty_since >= self.debounce:
            self.save_now()

    def save_now(self) -> None:
        if self.path is None:
            return
        with self._lock:
            self._dirty_since = None
            data = json.dumps(self.snapshot())
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(self.path.suffix + ".tmp")
            temporary.write_text(data)
            os.replace(temporary, self.path)  # atomic: a crash never leaves half a file
