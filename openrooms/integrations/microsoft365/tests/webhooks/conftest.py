"""The webhook tests' world: the app served over HTTPS, and an emulator that trusts it.

The app is served over HTTPS (the receiver Graph calls) and, for each module, an emulator
trusts its certificate, so Graph's validation requests and notifications reach the receiver
for real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from m365_emulator.server import EmulatorHandle
from m365_emulator.testing import wait_until
from openrooms.integrations.microsoft365.tests.outbox_helpers import EmulatorControl
from openrooms.integrations.microsoft365.tests.webhooks.helpers import (
    delete_all_subscriptions,
    emulator_trusting,
    https_receiver,
)
from openrooms.tls_server import Certificate, HttpsServer


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HttpsServer, Certificate]]:
    yield from https_receiver(tmp_path_factory.mktemp("receiver-tls"))


@pytest.fixture(scope="module")
def emulator(
    tmp_path_factory: pytest.TempPathFactory, receiver: tuple[HttpsServer, Certificate]
) -> Iterator[EmulatorHandle]:
    """The module's emulator (it replaces the session one): it trusts the receiver."""
    yield from emulator_trusting(tmp_path_factory.mktemp("m365-hooks"), receiver[1])


@pytest.fixture(scope="module")
def emulator_config(emulator: EmulatorHandle) -> dict[str, Any]:
    return emulator.config()


@pytest.fixture
def emulator_api(graph_settings: dict[str, Any]) -> Iterator[EmulatorControl]:
    api = EmulatorControl(graph_settings)
    api.reset()
    # The fixture's meetings, back in the calendars, are answered by the rooms' booking
    # assistants shortly: their changes must not pass for a test's.
    wait_until(lambda: api.counters()["rba_pending"] == 0)
    yield api
    api.clear_faults()
    delete_all_subscriptions(graph_settings)


@pytest.fixture
def public_url(settings: Any, receiver: tuple[HttpsServer, Certificate]) -> str:
    """This installation's public https address: the receiver's."""
    settings.PUBLIC_BASE_URL = receiver[0].url
    settings.MICROSOFT_MAX_WAIT_SECONDS = 0.2
    return receiver[0].url
