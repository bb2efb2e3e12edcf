"""Helpers for test suites (ours and the product's) that run against a live emulator.

    # conftest.py (top level)
    pytest_plugins = ["m365_emulator.testing"]

    def test_it_lists_rooms(m365_emulator):
        config = m365_emulator.config()        # authority, graph_url, ca_file, apps, ...

Override `m365_emulator_options` in a conftest.py to pass start_emulator() options.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import EmulatorHandle, start_emulator

# Fast defaults for tests: the booking assistant answers in 0.2 s, retries come quickly.
TEST_OPTIONS: dict[str, Any] = {"rba_delay_seconds": 0.2, "tick_seconds": 0.05,
                                "delivery_retries": (0.2, 0.2), "validation_timeout": 3.0}


@pytest.fixture(scope="session")
def m365_emulator_options() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="session")
def m365_emulator(tmp_path_factory: pytest.TempPathFactory,
                  m365_emulator_options: dict[str, Any]) -> Iterator[EmulatorHandle]:
    """A session-wide emulator on a free port, state (CA, keys) under a temporary directory."""
    state_dir: Path = tmp_path_factory.mktemp("m365-emulator")
    options = {"state_dir": state_dir, **TEST_OPTIONS, **m365_emulator_options}
    handle = start_emulator(port=0, **options)
    yield handle
    handle.stop()


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0,
               interval: float = 0.05) -> Any:
    """Poll until predicate() is truthy (returns it) or fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


def msal_http_client(ca_file: str) -> Any:
    """A requests session that trusts the emulator's CA whatever the environment says.

    msal's `verify=` sets requests' Session.verify, but requests lets REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE override a session's verify (Session.merge_environment_settings), so on
    machines that set those, `verify=ca_file` is silently ignored. trust_env=False prevents it.
    """
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file
    return session


def msal_app(config: dict[str, Any], client_id: str, secret: str,
             authority: str | None = None) -> Any:
    """A fresh msal ConfidentialClientApplication against the emulator (no token cache reuse)."""
    import msal  # type: ignore[import-untyped]  # msal ships no type hints

    return msal.ConfidentialClientApplication(
        client_id, client_credential=secret, authority=authority or config["authority"],
        instance_discovery=False, http_client=msal_http_client(config["ca_file"]))
