"""Idle workers woken the moment a task is queued: PostgreSQL's LISTEN/NOTIFY.

A trigger on django-tasks-db's table (migration jobs/0003) notifies `TASKS_CHANNEL` when a
task row is inserted, which PostgreSQL delivers at its commit. Each worker listens on a
connection of its own in a thread and wakes its loop, which otherwise waits out its poll
interval: the poll stays as the safety net for a notification lost with a connection, and is
all there is on SQLite.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from django.db import connections

logger = logging.getLogger(__name__)

TASKS_CHANNEL = "openrooms_tasks"
RECONNECT_SECONDS = 1.0


class TaskWakeUps:
    """`wait(seconds)` returns after `seconds`, or as soon as a task is queued (PostgreSQL)."""

    def __init__(self) -> None:
        self.task_queued = threading.Event()
        self.stopping = threading.Event()
        self.listening = threading.Event()  # set once LISTEN is in force (tests wait on it)
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if connections["default"].vendor != "postgresql":
            return
        self.thread = threading.Thread(target=self.listen, name="task-wake-ups", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def wait(self, seconds: float) -> None:
        # Cleared after waking: a task queued meanwhile is found by the look that follows.
        self.task_queued.wait(seconds)
        self.task_queued.clear()

    def listen(self) -> None:
        """The listening thread: its own connection (Django's are per thread), kept open and
        opened again after a failure."""
        connection = connections["default"]
        while not self.stopping.is_set():
            try:
                connection.ensure_connection()
                raw = connection.connection  # psycopg, in autocommit as Django leaves it
                raw.execute(f"LISTEN {TASKS_CHANNEL}")
                self.listening.set()
                self.task_queued.set()  # anything queued before LISTEN is looked for at once
                while not self.stopping.is_set():
                    for _ in raw.notifies(timeout=1.0, stop_after=1):
                        self.task_queued.set()
            except Exception:
                logger.warning("Listening for queued tasks failed; polling meanwhile.",
                               exc_info=True)
                self.listening.clear()
                with contextlib.suppress(Exception):  # a connection already broken
                    connection.close()
                self.stopping.wait(RECONNECT_SECONDS)
        connection.close()
