"""The organisation's connection as the sync reaches it, and the one place a GraphClient is made.

`client_for` makes a new client: no token cached, so Test settings notices a newly mistyped
secret. `shared_client` is the one background work uses: one per connection and process, so
a run of deliveries or pulls reuses its token and TLS connection (a first sync is thousands of
pulls); saving the connection (a new secret, a test) makes a new one.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from openrooms import crypto
from openrooms.accounts.models import Organisation
from openrooms.integrations.microsoft365.graph.client import Credentials, GraphClient
from openrooms.integrations.microsoft365.models import Connection


def connection_of(organisation: Organisation | int) -> Connection | None:
    """The organisation's (or the organisation id's) connection, if it has one."""
    if isinstance(organisation, Organisation):
        return Connection.objects.filter(organisation=organisation).first()
    return Connection.objects.filter(organisation_id=organisation).first()


@sensitive_variables("credentials")
def client_for(connection: Connection, **options: Any) -> GraphClient:
    """A new client, with no token cached, for the organisation's tenant. Raises
    crypto.SecretUnreadable when the stored secret cannot be decrypted."""
    credentials = Credentials(
        tenant_id=connection.tenant_id,
        client_id=connection.client_id,
        client_secret=crypto.decrypt(connection.client_secret_encrypted),
    )
    return GraphClient(credentials, **options)


_shared: dict[int, tuple[tuple[object, ...], GraphClient]] = {}
_shared_lock = threading.Lock()


def shared_client(connection: Connection) -> GraphClient:
    """This process's client for background work on the connection: waits on Retry-After up
    to MICROSOFT_MAX_WAIT_SECONDS. Never closed by its users: a thread may be using it."""
    version = (
        connection.updated_at, settings.MICROSOFT_GRAPH_URL, settings.MICROSOFT_LOGIN_URL,
        settings.MICROSOFT_CA_FILE, settings.MICROSOFT_MAX_WAIT_SECONDS,
    )
    with _shared_lock:
        known, client = _shared.get(connection.pk, (None, None))
        if client is None or known != version:
            # The one replaced is left to the garbage collector: a thread may still use it.
            client = client_for(connection, max_wait_seconds=settings.MICROSOFT_MAX_WAIT_SECONDS)
            _shared[connection.pk] = (version, client)
        return client
