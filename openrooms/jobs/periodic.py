"""Periodic work: what each scheduler tick does, as each app registers it.

An app adds its work in its `AppConfig.ready` (`register_periodic("outbox retries", fn)`);
the scheduler (jobs.scheduler) calls every registered function once a tick, in the order they
were registered. A function enqueues tasks rather than doing slow work itself: the tick must
stay short, whatever Microsoft or the network does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger("openrooms.scheduler")

PERIODIC_WORK: dict[str, Callable[[], object]] = {}


def register_periodic(name: str, work: Callable[[], object]) -> None:
    """Adds `work` to every tick; registering a name again replaces it (reloads, tests)."""
    PERIODIC_WORK[name] = work


def run_periodic_work() -> None:
    """Calls each registered function; one that fails is logged and the others still run."""
    for name, work in list(PERIODIC_WORK.items()):
        try:
            work()
        except Exception:
            logger.exception("Periodic work %r failed; it runs again next tick", name)
