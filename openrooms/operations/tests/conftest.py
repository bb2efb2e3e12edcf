"""The operations tests run the product against the Microsoft 365 emulator too: the same
fixtures as the integration's tests (an emulator per test process, its control API, workers)."""

from openrooms.integrations.microsoft365.tests.conftest import (  # noqa: F401 - pytest fixtures
    emulator,
    emulator_api,
    emulator_config,
    full_app,
    graph_settings,
    start_workers,
)
