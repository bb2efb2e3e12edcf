"""The emulator process: composes the modules, serves HTTPS, runs the background threads.

`start_emulator()` runs it in a background thread of the current process (tests, benchmarks);
the CLI runs the same thing in the foreground.
"""

from __future__ import annotations

import gc
import ipaddress
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import groupby
from pathlib import Path
from typing import Any

from .batch import Batch
from .calendar.model import RoomPolicy
from .calendar.store import CalendarStore
from .control import Control
from .delta import DeltaTokens
from .errors import GraphError
from .fixture import Tenant, generated_meetings, load_fixture
from .graph import GraphApi, GraphOptions, fault_error
from .identity import AadError, Identity
from .messages import Request, Response, graph_error, graph_error_body
from .state import StateFile
from .subscriptions import SubscriptionOptions, Subscriptions
from .throttling import Throttle
from .tls import DEFAULT_STATE_DIR, TlsFiles, ensure_tls_files
from .webpage import WebPage

_IDENTITY = re.compile(
    r"^/(?P<tenant>[^/]+)/(?:(?P<oidc>v2\.0/\.well-known/openid-configuration)"
    r"|(?P<token>oauth2/v2\.0/token)|(?P<keys>discovery/v2\.0/keys))$", re.I)


@dataclass
class EmulatorOptions:
    host: str = "127.0.0.1"
    port: int = 9365
    fixture: str | Path | None = None
    state_dir: str | Path | None = None
    state_file: str | Path | None = None
    latency_ms: int = 0
    rba_delay_seconds: float = 2.0
    tick_seconds: float = 0.1
    subscriptions: SubscriptionOptions = field(default_factory=SubscriptionOptions)
    concurrency_limit: int = 4
    rate_limit: int = 10_000
    rate_window_seconds: float = 600.0
    delta_max_age_seconds: float = 7 * 24 * 3600
    save_debounce_seconds: float = 1.0


class Emulator:
    def __init__(self, options: EmulatorOptions) -> None:
        self.options = options
        self.state_dir = Path(options.state_dir or DEFAULT_STATE_DIR)
        self.tenant: Tenant = load_fixture(options.fixture)
        self.tls: TlsFiles = ensure_tls_files(self.state_dir)
        self.identity = Identity(self.tenant, self.state_dir)
        self.port = options.port
        self.throttle = Throttle(concurrency=options.concurrency_limit,
                                 rate_limit=options.rate_limit,
                                 rate_window=options.rate_window_seconds)
        self.delta = DeltaTokens(max_age_seconds=options.delta_max_age_seconds)
        self.state = StateFile(Path(options.state_file) if options.state_file else None,
                               self._snapshot, debounce=options.save_debounce_seconds)
        self.graph = GraphApi(self.tenant, None, self.throttle, self.delta,
                              GraphOptions(latency_ms=options.latency_ms), lambda: self.base_url)
        self.subscriptions = Subscriptions(self.tenant, options.subscriptions,
                                           self.graph.calendar_mailbox)
        self.subscriptions.on_state_change = self.state.touch
        self.graph.add_routes(self.subscriptions.routes() + Batch(self.graph.dispatch).routes())
        saved = self.state.load()
        # A generated tenant is millions of objects made at once that live as long as the
        # emulator: the cyclic collector walking them while they are made, and again and again
        # while serving, would be most of the start-up time and long pauses afterwards.
        gc.disable()
        try:
            self.graph.store = self._build_store(saved.get("calendar") if saved else None)
        finally:
            gc.enable()
        gc.freeze()
        if saved:
            self.subscriptions.load_json(saved.get("subscriptions", []))
        self.control = Control(self)
        self.web = WebPage(self)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def store(self) -> CalendarStore:
        return self.graph.store

    @property
    def base_url(self) -> str:
        return base_url_for(self.options.host, self.port)

    # -- calendar store ------------------------------------------------------------------------
    def _on_change(self, user_id: str, event_id: str, change_type: str) -> None:
        self.subscriptions.notify_change(user_id, event_id, change_type)
        self.state.touch()

    def _build_store(self, saved: dict[str, Any] | None) -> CalendarStore:
        delay, on_change = self.options.rba_delay_seconds, self._on_change
        if saved:
            return CalendarStore.from_json(saved, rba_delay_seconds=delay, on_change=on_change)
        store = CalendarStore(rba_delay_seconds=delay, on_change=on_change)
        for m in self.tenant.mailboxes:
            if not m.on_premises:
                policy = RoomPolicy(**m.policy) if m.is_room else None
                store.add_mailbox(m.id, m.email, m.display_name, room_policy=policy)
        for entry in self.tenant.events:
            mailbox = self.tenant.mailbox(entry["mailbox"])
            if mailbox is None:
                raise ValueError(f"fixture event for unknown mailbox {entry['mailbox']}")
            store.create_event(mailbox.id, entry["event"])
        for room, meetings in groupby(generated_meetings(self.tenant), key=lambda m: m[0].id):
            store.seed_events(room, [payload for _, payload in meetings])
        return store

    def reset_calendars(self) -> None:
        """Back to the fixture's calendars; every delta token issued before answers 410."""
        self.graph.store = self._build_store(None)
        self.delta.invalidate()
        self.state.touch()

    def _snapshot(self) -> dict[str, Any]:
        return {"version": 1, "calendar": self.store.to_json(),
                "subscriptions": self.subscriptions.to_json()}

    # -- request handling ----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_emulator"):
            if not _is_loopback(request.client_ip):
                return Response.text(403, "The emulator's control API answers loopback only.")
            if request.path.startswith("/_emulator/api/"):
                return self.control.handle(request)
            return self.web.handle(request)
        down = self.throttle.pick_fault(request.path, service_wide=True)
        if down is not None:
            return graph_error(fault_error(down), request)
        if request.path.lower().startswith("/v1.0/"):
            response = self._graph(request)
        else:
            response = self._identity(request)
        response.headers.setdefault("request-id", request.request_id)
        response.headers.setdefault("client-request-id", request.client_request_id)
        return response

    def _graph(self, request: Request) -> Response:
        request.path = request.path[len("/v1.0"):]
        try:
            caller = self.identity.verify(request.headers.get("authorization"))
            return self.graph.dispatch(request, caller)
        except GraphError as error:
            return graph_error(error, request)

    def _identity(self, request: Request) -> Response:
        match = _IDENTITY.match(request.path)
        if match is None:
            return Response.json(404, graph_error_body("NotFound", "Not found.", request))
        try:
            if match["oidc"] and request.method == "GET":
                return Response.json(200, self.identity.openid_configuration(
                    match["tenant"], self.base_url))
            if match["keys"] and request.method == "GET":
                return Response.json(200, self.identity.jwks(match["tenant"]))
            if match["token"] and request.method == "POST":
                return Response.json(200, self.identity.token(match["tenant"], request),
                                     {"Cache-Control": "no-store, no-cache"})
        except AadError as error:
            return error.response(request, self.base_url)
        return Response.json(405, {"error": "invalid_request",
                                   "error_description": "Method not allowed."})

    # -- configuration for humans and scripts ---------------------------------------------------
    def config(self) -> dict[str, Any]:
        return config_for(self.tenant, self.tls, self.base_url)

    # -- background work -----------------------------------------------------------------------
    def start_background(self) -> None:
        self.subscriptions.start()
        self._ticker = threading.Thread(target=self._tick_forever, name="m365-ticker",
                                        daemon=True)
        self._ticker.start()

    def _tick_forever(self) -> None:
        while not self._stop.wait(self.options.tick_seconds):
            self.store.run_due_rba()
            self.subscriptions.expire_due()
            self.state.save_if_due()

    def stop_background(self) -> None:
        self._stop.set()
        if self._ticker:
            self._ticker.join(timeout=5)
        self.subscriptions.stop()
        self.state.save_now()


def config_for(tenant: Tenant, tls: TlsFiles, base_url: str) -> dict[str, Any]:
    """What --print-config prints: values to paste into openrooms' settings."""
    return {
        "authority": f"{base_url}/{tenant.id}",
        "graph_url": f"{base_url}/v1.0",
        "ca_file": str(tls.ca_file),
        "tenant_id": tenant.id,
        "tenant_domain": tenant.default_domain,
        "apps": [
            {"name": a.name, "client_id": a.client_id,
             "secret_id": a.secrets[0].id if a.secrets else None,
             "secret_value": a.secrets[0].value if a.secrets else None,
             "secret_expires": a.secrets[0].expires.isoformat() if a.secrets else None,
             "permissions": list(a.permissions),
             "room_mailboxes_only": a.room_mailboxes_only}
            for a in tenant.apps
        ],
        "rooms": [m.email for m in tenant.rooms()],
        "users": [m.email for m in tenant.mailboxes if not m.is_room],
        "control_url": f"{base_url}/_emulator/api",
        "web_url": f"{base_url}/_emulator/",
    }


def base_url_for(host: str, port: int) -> str:
    """The URL clients use; a wildcard bind is reached through loopback."""
    try:
        wildcard = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        wildcard = False
    return f"https://{'127.0.0.1' if wildcard or not host else host}:{port}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections like with Graph
    server_version = "Microsoft-IIS/10.0"
    emulator: Emulator

    def setup(self) -> None:
        # The TLS handshake runs here, in the connection's own thread, so one slow client
        # cannot hold up accept() for everyone else.
        self.request.settimeout(30)
        # Headers and body leave in two writes: with Nagle's algorithm the body waits for
        # the client's delayed ACK, adding ~40 ms to every answer (and to --latency-ms).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.request.close()
            raise
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests and the demo print their own summaries

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = Request.build(self.command, self.path, headers, body, self.client_address[0])
        try:
            response = self.emulator.handle(request)
        except Exception as exc:  # an emulator bug must still answer, like Graph's 500s
            response = Response.json(500, graph_error_body(
                "InternalServerError", f"{type(exc).__name__}: {exc}", request))
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hangs up mid-handshake is not our error to print


@dataclass
class EmulatorHandle:
    """A running emulator: `base_url`, `config()`, `stop()`."""

    emulator: Emulator
    server: _Server
    thread: threading.Thread

    @property
    def base_url(self) -> str:
        return self.emulator.base_url

    def config(self) -> dict[str, Any]:
        return self.emulator.config()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.emulator.stop_background()


def serve(options: EmulatorOptions) -> EmulatorHandle:
    """Bind, start the background threads and serve in a daemon thread."""
    emulator = Emulator(options)
    handler = type("Handler", (_Handler,), {"emulator": emulator})
    server = _Server((options.host, options.port), handler, bind_and_activate=True)
    context = emulator.tls.server_context()
    server.socket = context.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    emulator.port = server.server_address[1]
    emulator.start_background()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="m365-http", daemon=True)
    thread.start()
    return EmulatorHandle(emulator, server, thread)


def start_emulator(*, fixture: str | Path | None = None, port: int = 0,
                   **options: Any) -> EmulatorHandle:
    """Start an emulator in this process (port 0 = any free port). Options: EmulatorOptions
    fields; `allow_http_webhooks`, `webhook_verify`, `subscription_max_minutes`,
    `validation_timeout` and `delivery_retries` set the subscription options."""
    sub_keys = {"allow_http_webhooks": "allow_http_webhooks", "webhook_verify": "verify",
                "subscription_max_minutes": "max_lifetime_minutes",
                "validation_timeout": "validation_timeout",
                "delivery_retries": "delivery_retries"}
    sub = SubscriptionOptions(**{sub_keys[k]: options.pop(k) for k in list(options)
                                 if k in sub_keys})
    return serve(EmulatorOptions(fixture=fixture, port=port, subscriptions=sub, **options))
