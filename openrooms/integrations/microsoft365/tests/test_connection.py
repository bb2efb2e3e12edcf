"""Saving and forgetting the connection: the secret encrypted at rest, Test settings, expiry."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection as db

from openrooms.integrations.microsoft365.clients import client_for
from openrooms.integrations.microsoft365.connection import (
    do_disconnect,
    do_record_test_step,
    do_save_connection,
    expiry_warning,
)
from openrooms.integrations.microsoft365.explain import StepResult
from openrooms.integrations.microsoft365.models import Connection

SECRET = "Qx8~a-very-secret-value.42"


def save(organisation, **changes):
    fields = {
        "tenant_id": "8e4b1f2a-6c3d-4a5e-9f10-2b7c8d9e0a11",
        "client_id": "5ca0ed64-3811-5117-9455-a85a52a9b696",
        "client_secret": SECRET,
        "secret_expires_on": dt.date(2027, 6, 1),
        "write_mode": Connection.WriteMode.BOOKER_CALENDAR,
        **changes,
    }
    return do_save_connection(organisation, **fields)


def test_the_secret_is_encrypted_at_rest_and_read_back_for_graph(organisation):
    connection = save(organisation)
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM microsoft365_connection")
        row = " ".join(str(value) for value in cursor.fetchone())
    assert SECRET not in row
    assert client_for(connection).credentials.client_secret == SECRET


def test_saving_without_a_secret_keeps_the_stored_one(organisation):
    first = save(organisation)
    kept = save(organisation, client_secret=None, write_mode=Connection.WriteMode.ROOM_CALENDAR)
    assert kept.pk == first.pk
    assert client_for(kept).credentials.client_secret == SECRET
    assert kept.write_mode == "room"


def test_a_new_connection_needs_a_secret(organisation):
    with pytest.raises(ValueError, match="needs a client secret"):
        save(organisation, client_secret=None)


def test_new_credentials_clear_the_last_test_result(organisation):
    connection = save(organisation)
    do_record_test_step(connection, 0, StepResult(True, "Sign in", "ok"))
    do_record_test_step(connection, 1, StepResult(False, "Directory", "no", "fix"))
    connection.refresh_from_db()
    assert connection.last_test_ok is False and len(connection.last_test_steps) == 2
    do_record_test_step(connection, 0, StepResult(True, "Sign in", "ok"))
    assert len(connection.last_test_steps) == 1  # a new run starts over
    connection = save(organisation, client_secret="another~secret")
    assert connection.last_test_at is None and connection.last_test_steps == []


@pytest.mark.parametrize(
    ("days_left", "warned"), [(31, None), (30, 30), (14, 14), (1, 1), (0, 0), (-3, -3)]
)
def test_expiry_is_warned_from_thirty_days_before(organisation, days_left, warned):
    today = dt.date(2027, 1, 1)
    connection = save(organisation, secret_expires_on=today + dt.timedelta(days=days_left))
    assert expiry_warning(connection, today) == warned


def test_disconnect_forgets_the_credentials(organisation):
    save(organisation)
    do_disconnect(organisation)
    assert not Connection.objects.exists()
