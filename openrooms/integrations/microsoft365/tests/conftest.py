"""A Microsoft 365 emulator for the whole test session, settings that point at it, workers.

The workers are real `openrooms worker` processes on the test database (`start_workers`).

The demo tenant plus 110 generated rooms, so that the Places listing spans two pages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

import m365_emulator
from m365_emulator.server import EmulatorHandle, start_emulator
from m365_emulator.testing import TEST_OPTIONS, wait_until
from openrooms.accounts.models import Account, Organisation
from openrooms.accounts.services import do_create_account
from openrooms.bookings.placement import SpaceBookings
from openrooms.conftest import PASSWORD
from openrooms.integrations.microsoft365.graph.client import (
    Credentials,
    GraphClient,
)
from openrooms.integrations.microsoft365.models import Connection
from openrooms.integrations.microsoft365.tests.outbox_helpers import (
    ALICE,
    SEINE,
    EmulatorControl,
    connect,
    linked_room,
)
from openrooms.jobs.models import WorkLease
from openrooms.spaces.models import Office, Space

DEMO_TENANT = Path(m365_emulator.__file__).parent / "fixtures" / "demo.json"
PROJECT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    folder = tmp_path_factory.mktemp("m365")
    tenant = json.loads(DEMO_TENANT.read_text())
    tenant["generate_rooms"] = 110
    fixture = folder / "tenant.json"
    fixture.write_text(json.dumps(tenant))
    handle = start_emulator(fixture=fixture, port=0, state_dir=folder, **TEST_OPTIONS)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def emulator_config(emulator: EmulatorHandle) -> dict[str, Any]:
    return emulator.config()


@pytest.fixture
def graph_settings(settings: Any, emulator_config: dict[str, Any]) -> dict[str, Any]:
    """Points the product's Microsoft endpoints at the emulator for one test."""
    settings.MICROSOFT_LOGIN_URL = emulator_config["authority"].rsplit("/", 1)[0]
    settings.MICROSOFT_GRAPH_URL = emulator_config["graph_url"]
    settings.MICROSOFT_CA_FILE = emulator_config["ca_file"]
    return emulator_config


def app_named(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(app for app in config["apps"] if app["name"] == name)


@pytest.fixture
def full_app(graph_settings: dict[str, Any]) -> dict[str, Any]:
    """The Azure app with all four permissions consented."""
    return app_named(graph_settings, "openrooms")


def client_of(config: dict[str, Any], app: dict[str, Any], **overrides: str) -> GraphClient:
    credentials = {
        "tenant_id": config["tenant_id"],
        "client_id": app["client_id"],
        "client_secret": app["secret_value"],
        **overrides,
    }
    return GraphClient(Credentials(**credentials), max_attempts=2, max_wait_seconds=0.5)


def database_url() -> str:
    """This test database (pytest-django renames it) as DATABASE_URL for a subprocess."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def start_workers(
    transactional_db: None, graph_settings: dict[str, Any], tmp_path: Path
) -> Iterator[Callable[..., list[subprocess.Popen]]]:
    processes: list[subprocess.Popen] = []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "openrooms.settings",
        "DATABASE_URL": database_url(),
        "MICROSOFT_LOGIN_URL": graph_settings["authority"].rsplit("/", 1)[0],
        "MICROSOFT_GRAPH_URL": graph_settings["graph_url"],
        "MICROSOFT_CA_FILE": graph_settings["ca_file"],
        "MICROSOFT_OUTBOX_RETRY_SECONDS": "0.1",
        "MICROSOFT_OUTBOX_MAX_RETRY_SECONDS": "0.5",
        "MICROSOFT_MAX_WAIT_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
        # Room calendar pulls only where a test asks for them (`poll_seconds`).
        "MICROSOFT_POLL_SECONDS": "0",
    }

    def start(
        count: int, *, poll_seconds: float = 0, extra_env: dict[str, str] | None = None,
        interval: float = 0.05,
    ) -> list[subprocess.Popen]:
        """Starts `count` workers and returns once one of them ticks its scheduler (Django
        booted, the database reached): time-limited faults a test sets afterwards meet
        running workers, however slow the machine is to start them."""
        env["MICROSOFT_POLL_SECONDS"] = str(poll_seconds)
        env.update(extra_env or {})
        for _ in range(count):
            log = (tmp_path / f"worker-{len(processes)}.log").open("w")
            processes.append(subprocess.Popen(
                [sys.executable, "manage.py", "worker", "--interval", str(interval),
                 "--scheduler-every", "0.2", "--no-startup-delay", "-v", "0"],
                cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
            ))
        wait_until(lambda: WorkLease.objects.filter(key="scheduler").exclude(holder="").exists(),
                   timeout=60, interval=0.1)
        return processes

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- a connected organisation and its rooms, for the sync's tests -------------------------


@pytest.fixture
def quick_retries(settings: Any) -> None:
    """Retries and Graph's waits in tenths of seconds (modules opt in with usefixtures)."""
    settings.MICROSOFT_OUTBOX_RETRY_SECONDS = 0.05
    settings.MICROSOFT_OUTBOX_MAX_RETRY_SECONDS = 0.2
    settings.MICROSOFT_MAX_WAIT_SECONDS = 0.2


@pytest.fixture
def emulator_api(graph_settings: dict[str, Any]) -> Iterator[EmulatorControl]:
    """The emulator's control API, its calendars emptied; faults cleared afterwards."""
    api = EmulatorControl(graph_settings)
    api.reset()
    yield api
    api.clear_faults()


@pytest.fixture
def room_mode(
    organisation: Organisation, graph_settings: dict[str, Any], full_app: dict[str, Any],
    emulator_api: EmulatorControl,
) -> Connection:
    return connect(organisation, graph_settings, full_app, "room")


@pytest.fixture
def booker_mode(
    organisation: Organisation, graph_settings: dict[str, Any], full_app: dict[str, Any],
    emulator_api: EmulatorControl,
) -> Connection:
    return connect(organisation, graph_settings, full_app, "booker")


@pytest.fixture
def seine(organisation: Organisation, office: Office) -> Space:
    return linked_room(organisation, office, SEINE)


@pytest.fixture
def alice(organisation: Organisation) -> Account:
    return do_create_account(organisation, email=ALICE, password=PASSWORD, name="Alice")


@pytest.fixture
def first_read_misses(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The first read of a placement sees none of the space's bookings, as if a writer that did
    not queue on the space's lock had committed right after it; returns the reads made."""
    real_load_span = SpaceBookings.load_span
    reads: list[object] = []

    def misses_the_first_time(self: SpaceBookings, times: list) -> None:
        reads.append(times)
        if len(reads) > 1:
            real_load_span(self, times)

    monkeypatch.setattr(SpaceBookings, "load_span", misses_the_first_time)
    return reads
