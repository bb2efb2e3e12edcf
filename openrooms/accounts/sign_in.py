"""Sign-in throttling: failures in a row lock an account, or a client address, for a while.

Counted in the database, so every process and machine serving the app shares the counts (the
default cache is per process). Ten failures for one e-mail within the window lock it for
LOCK_MINUTES; so do ADDRESS_FAILURES from one client address, whatever e-mails they name. While
locked, a try is refused before any password is hashed and is not counted: the lock ends when
it says, so an attacker can delay an account, never shut it out for good. A successful
sign-in clears its account's count.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from openrooms.accounts.models import SignInThrottle, normalised_email

ACCOUNT_FAILURES = 10
ADDRESS_FAILURES = 30
WINDOW = dt.timedelta(minutes=15)
LOCK = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class SignInLocked(Exception):
    """Sign-in is locked for `wait` more; `of_address` when it is the client address's lock."""

    wait: dt.timedelta
    of_address: bool = False

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.wait.total_seconds() / 60))
        whose = "from this network" if self.of_address else "for this account"
        unit = "minute" if minutes == 1 else "minutes"
        return f"Too many failed sign-ins {whose}. Try again in {minutes} {unit}."


def client_address(request: HttpRequest) -> str:
    """The address a request came from; behind a proxy (BEHIND_PROXY), the one the proxy saw,
    which it appends last to X-Forwarded-For (earlier entries are the client's to forge)."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()[:100]
    return str(request.META.get("REMOTE_ADDR", ""))[:100]


def throttle_keys(email: str, address: str) -> list[tuple[str, int]]:
    keys = [(f"account:{normalised_email(email)}", ACCOUNT_FAILURES)]
    if address:
        keys.append((f"address:{address}", ADDRESS_FAILURES))
    return keys


def access_sign_in(email: str, address: str) -> None:
    """Raises SignInLocked when the account or the address may not try now."""
    now = timezone.now()
    locks = SignInThrottle.objects.filter(
        key__in=[key for key, _ in throttle_keys(email, address)], locked_until__gt=now
    ).order_by("-locked_until")
    lock = locks.first()
    if lock is not None:
        assert lock.locked_until is not None  # filtered on it
        raise SignInLocked(lock.locked_until - now, of_address=lock.key.startswith("address:"))


def do_record_failed_sign_in(email: str, address: str) -> None:
    now = timezone.now()
    SignInThrottle.objects.filter(
        counting_since__lt=now - WINDOW - LOCK, locked_until__isnull=True
    ).delete()
    for key, limit in throttle_keys(email, address):
        with transaction.atomic():
            row, _ = SignInThrottle.objects.select_for_update().get_or_create(
                key=key, defaults={"counting_since": now}
            )
            if row.locked_until is not None and row.locked_until > now:
                continue
            if now - row.counting_since > WINDOW or row.locked_until is not None:
                row.failures, row.counting_since, row.locked_until = 0, now, None
            row.failures += 1
            if row.failures >= limit:
                row.failures, row.locked_until = 0, now + LOCK
            row.save()


def do_clear_failed_sign_ins(email: str) -> None:
    SignInThrottle.objects.filter(key=f"account:{normalised_email(email)}").delete()
