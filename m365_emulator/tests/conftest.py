"""One emulator for the whole conformance suite, driven over HTTPS like a real client."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from m365_emulator.fixture import DEFAULT_FIXTURE
from m365_emulator.server import EmulatorHandle, start_emulator
from m365_emulator.testing import TEST_OPTIONS, msal_app

GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]


@pytest.fixture(scope="session")
def fixture_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo tenant plus 150 generated rooms, so Places paging goes past 100."""
    data = json.loads(DEFAULT_FIXTURE.read_text())
    data["generate_rooms"] = 150
    path = tmp_path_factory.mktemp("fixture") / "tenant.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="session")
def emulator(fixture_file: Path, state_dir: Path) -> Iterator[EmulatorHandle]:
    handle = start_emulator(fixture=fixture_file, port=0, state_dir=state_dir,
                            allow_http_webhooks=True, **TEST_OPTIONS)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def config(emulator: EmulatorHandle) -> dict[str, Any]:
    return emulator.config()


def ca_context(config: dict[str, Any]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=config["ca_file"])


def app_named(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in config["apps"] if a["name"] == name)


def token_for(config: dict[str, Any], name: str) -> str:
    app = app_named(config, name)
    result = msal_app(config, app["client_id"], app["secret_value"]).acquire_token_for_client(
        scopes=GRAPH_SCOPE)
    return result["access_token"]


def graph_client(config: dict[str, Any], token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=config["graph_url"], verify=ca_context(config),
                        headers=headers, timeout=20)


@pytest.fixture(scope="session")
def graph(config: dict[str, Any]) -> Iterator[httpx.Client]:
    """Graph as the fully consented app sees it."""
    with graph_client(config, token_for(config, "openrooms")) as client:
        yield client


@pytest.fixture
def control(config: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=config["control_url"], verify=ca_context(config),
                      timeout=20) as client:
        yield client
        client.delete("/faults")


# -- a webhook receiver ---------------------------------------------------------------------------
@dataclass
class Receiver:
    url: str
    mode: str = "ok"  # ok | fail | wrong-token | fail-notifications
    validations: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    def values(self) -> list[dict[str, Any]]:
        return [v for n in list(self.notifications) for v in n["value"]]


def _receiver_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = parse_qs(urlsplit(self.path).query)
            if "validationToken" in query:
                token = query["validationToken"][0]
                receiver.validations.append(token)
                if receiver.mode == "fail":
                    self._answer(500, b"nope")
                else:
                    echo = "something else" if receiver.mode == "wrong-token" else token
                    self._answer(200, echo.encode(), "text/plain")
                return
            receiver.notifications.append(json.loads(body))
            self._answer(500 if receiver.mode == "fail-notifications" else 202, b"")

        def _answer(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A plain-http loopback receiver (the session emulator allows http on loopback)."""
    receiver = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _receiver_handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/webhook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def make_receiver_server():
    """Build a receiver served by any server class (the https test wraps it in TLS)."""
    servers: list[ThreadingHTTPServer] = []

    def build(receiver: Receiver) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _receiver_handler(receiver))
        servers.append(server)
        return server

    yield build
    for server in servers:
        server.shutdown()
        server.server_close()
