"""A Microsoft 365 emulator for the whole test session, and settings that point at it.

The demo tenant plus 110 generated rooms, so that the Places listing spans two pages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import m365_emulator
from m365_emulator.server import EmulatorHandle, start_emulator
from m365_emulator.testing import TEST_OPTIONS
from openrooms.integrations.microsoft365.graph import Credentials, GraphClient

DEMO_TENANT = Path(m365_emulator.__file__).parent / "fixtures" / "demo.json"


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
    """The Azure app with all three permissions consented."""
    return app_named(graph_settings, "openrooms")


def client_of(config: dict[str, Any], app: dict[str, Any], **overrides: str) -> GraphClient:
    credentials = {
        "tenant_id": config["tenant_id"],
        "client_id": app["client_id"],
        "client_secret": app["secret_value"],
        **overrides,
    }
    return GraphClient(Credentials(**credentials), max_attempts=2, max_wait_seconds=0.5)
