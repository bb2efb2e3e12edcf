"""The one table of background work's own: leases (jobs.leases says what each key names)."""

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
