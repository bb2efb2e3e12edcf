"""Outlook's per-app-per-mailbox limits, injected faults, and the counters the control API reads.

Limits from "Microsoft Graph service-specific throttling limits", Outlook service: 10,000
requests per 10 minutes and 4 concurrent requests per app ID and mailbox.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .errors import GraphError


@dataclass
class Fault:
    """One injected fault: kind is "429", "503", "slow" or "down" (503 for everything)."""

    kind: str
    until: float | None = None  # monotonic deadline; None = until removed
    share: float = 1.0  # fraction of matching requests hit
    count: int | None = None  # stop after this many hits
    path_contains: str = ""
    retry_after: int = 1
    delay_ms: int = 0
    id: int = 0

    def active(self, now: float) -> bool:
        return (self.until is None or now < self.until) and (self.count is None or self.count > 0)


@dataclass
class Counters:
    per_endpoint: Counter = field(default_factory=Counter)
    per_mailbox: Counter = field(default_factory=Counter)
    max_concurrency: dict[str, int] = field(default_factory=dict)
    # In flight at once counting the request refused for it: what the app asked for, so a
    # client that ever breaks the limit shows here even though the emulator refused it.
    max_requested: dict[str, int] = field(default_factory=dict)
    over_limit: Counter = field(default_factory=Counter)  # 429s for a mailbox limit
    throttled: int = 0
    faults_served: int = 0

    def as_json(self) -> dict:
        return {
            "requests_per_endpoint": dict(self.per_endpoint),
            "requests_per_mailbox": dict(self.per_mailbox),
            "max_concurrency_per_mailbox": dict(self.max_concurrency),
            "max_requested_concurrency_per_mailbox": dict(self.max_requested),
            "over_limit_per_mailbox": dict(self.over_limit),
            "throttled_429": self.throttled,
            "faults_served": self.faults_served,
        }


class Throttle:
    def __init__(self, *, concurrency: int = 4, rate_limit: int = 10_000,
                 rate_window: float = 600.0, concurrency_retry_after: int = 1) -> None:
        self.concurrency = concurrency
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.concurrency_retry_after = concurrency_retry_after
        self._lock = threading.Lock()
        self._active: dict[tuple[str, str], int] = defaultdict(int)
        self._recent: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._faults: list[Fault] = []
        self._next_fault_id = 1
        self.counters = Counters()

    # -- faults ------------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            fault.id = self._next_fault_id
            self._next_fault_id += 1
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[Fault]:
        with self._lock:
            now = time.monotonic()
            self._faults = [f for f in self._faults if f.active(now)]
            return list(self._faults)

    def pick_fault(self, path: str, *, service_wide: bool = False) -> Fault | None:
        """The fault hitting this request, if any ("down" applies to every endpoint)."""
        with self._lock:
            now = time.monotonic()
            for fault in self._faults:
                if not fault.active(now) or fault.path_contains not in path:
                    continue
                if service_wide and fault.kind != "down":
                    continue
                if random.random() >= fault.share:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                self.counters.faults_served += 1
                if fault.kind == "429":
                    self.counters.throttled += 1
                return fault
        return None

    # -- limits ------------------------------------------------------------------------------
    def count(self, endpoint: str, mailbox: str | None) -> None:
        with self._lock:
            self.counters.per_endpoint[endpoint] += 1
            if mailbox:
                self.counters.per_mailbox[mailbox] += 1

    @contextmanager
    def mailbox_slot(self, app_id: str, mailbox: str) -> Iterator[None]:
        """Hold one of the app's concurrent slots on the mailbox, or raise 429."""
        key = (app_id, mailbox)
        with self._lock:
            now = time.monotonic()
            recent = self._recent[key]
            while recent and recent[0] <= now - self.rate_window:
                recent.popleft()
            requested = self._active[key] + 1
            peak = self.counters.max_requested.get(mailbox, 0)
            self.counters.max_requested[mailbox] = max(peak, requested)
            if len(recent) >= self.rate_limit:
                self.counters.throttled += 1
                self.counters.over_limit[mailbox] += 1
                wait = max(1, int(recent[0] + self.rate_window - now) + 1)
                raise GraphError(429, "ApplicationThrottled",
                                 "Application is over its MailboxRateLimit limit.",
                                 headers={"Retry-After": str(wait)})
            if self._active[key] >= self.concurrency:
                self.counters.throttled += 1
                self.counters.over_limit[mailbox] += 1
                # Outlook's wording for this limit (seen in 429 bodies, e.g. calcom/cal.diy#343).
                raise GraphError(429, "ApplicationThrottled",
                                 "Application is over its MailboxConcurrency limit.",
                                 headers={"Retry-After": str(self.concurrency_retry_after)})
            recent.append(now)
            self._active[key] += 1
            seen = self.counters.max_concurrency.get(mailbox, 0)
            self.counters.max_concurrency[mailbox] = max(seen, self._active[key])
        try:
            yield
        finally:
            with self._lock:
                self._active[key] -= 1

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._recent.clear()
            self.counters = Counters()
