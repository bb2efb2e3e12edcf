"""The scheduler: every few seconds, the periodic work of every app, by one process at a time.

`openrooms worker` runs it in a thread, `openrooms scheduler` on its own. Only one scheduler
ticks at a time (a lease it renews every tick, taken over after three missed ticks, or at once
when its process stops), so running one in every worker enqueues nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from django.db import close_old_connections

from openrooms.jobs.leases import acquire_lease, holder_id, lease_key
from openrooms.jobs.periodic import run_periodic_work

logger = logging.getLogger("openrooms.scheduler")


def schedule_periodic_work(holder: str, *, interval: float) -> bool:
    """One scheduler tick: the registered periodic work. False when another scheduler ticks."""
    if not acquire_lease(lease_key("scheduler"), holder, dt.timedelta(seconds=3 * interval)):
        return False
    run_periodic_work()
    return True


def run_scheduler(interval: float, stop: threading.Event | None = None) -> None:
    """Ticks every `interval` seconds until `stop` is set; a failed tick is logged, not fatal."""
    stop = stop or threading.Event()
    holder = f"{holder_id()}:scheduler"
    while not stop.is_set():
        close_old_connections()
        try:
            schedule_periodic_work(holder, interval=interval)
        except Exception:
            logger.exception("The scheduler's tick failed; trying again in %s s", interval)
        stop.wait(interval)
