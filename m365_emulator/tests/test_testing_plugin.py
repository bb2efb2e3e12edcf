"""The pytest fixture other suites use starts a working emulator."""

from __future__ import annotations

import ssl

import httpx

# Importing the fixtures is how a suite without the plugin registered picks them up.
from m365_emulator.testing import m365_emulator, m365_emulator_options, msal_app  # noqa: F401


def test_plugin_fixture_serves_tokens_and_graph(m365_emulator):  # noqa: F811
    config = m365_emulator.config()
    app = next(a for a in config["apps"] if a["name"] == "openrooms")
    token = msal_app(config, app["client_id"], app["secret_value"]).acquire_token_for_client(
        scopes=["https://graph.microsoft.com/.default"])["access_token"]
    answer = httpx.get(f"{config['graph_url']}/places/microsoft.graph.roomlist",
                       headers={"Authorization": f"Bearer {token}"},
                       verify=ssl.create_default_context(cafile=config["ca_file"]))
    assert answer.status_code == 200 and len(answer.json()["value"]) == 2
