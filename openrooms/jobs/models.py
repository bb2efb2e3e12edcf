"""Background work's own tables: leases (jobs.leases says what each key names) and the
heartbeats of running workers (jobs.heartbeat)."""

from __future__ import annotations

from django.db import models


class WorkLease(models.Model):
    """A named right to do some work for a while, taken with a conditional UPDATE.

    A holder that dies loses the lease when it expires. `jobs.leases.KEYS` lists every key.
    """

    key = models.CharField(max_length=300, unique=True)
    holder = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key} held by {self.holder or 'nobody'} until {self.expires_at}"


class WorkerHeartbeat(models.Model):
    """A running worker process, seen at `seen_at`: readiness asks whether one is alive."""

    process = models.CharField(max_length=200, unique=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.process} seen at {self.seen_at}"
