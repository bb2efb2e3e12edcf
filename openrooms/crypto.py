"""Encryption at rest for secrets the product must be able to read back (client secrets).

Keys come from OPENROOMS_ENCRYPTION_KEYS (or _FILE): comma-separated Fernet keys, the first
encrypts, all decrypt, so a key can be rotated. The embedded default generates one into the
data folder.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables


class SecretUnreadable(Exception):
    """The stored secret was encrypted with a key this installation no longer has."""


@cache
def box() -> MultiFernet:
    return MultiFernet([Fernet(key.strip()) for key in settings.ENCRYPTION_KEYS])


@sensitive_variables("plain")
def encrypt(plain: str) -> str:
    return box().encrypt(plain.encode()).decode()


@sensitive_variables("token")
def decrypt(token: str) -> str:
    try:
        return box().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(
            "The stored secret cannot be decrypted with this installation's keys."
        ) from error
