"""A small threaded HTTPS server for the Django app: stdlib `wsgiref` + `socketserver` + `ssl`.

Microsoft Graph (and the emulator, which does as Graph does) only delivers change
notifications to https addresses, so the webhook tests and benchmark serve the app with this,
under a certificate from a local CA (`trustme`) the emulator is told to trust. One thread per
connection, the TLS handshake in that thread. Not for production: there openrooms runs behind
a real web server that terminates TLS.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from socketserver import TCPServer, ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import trustme


@dataclass(frozen=True)
class Certificate:
    ca_file: Path  # what clients trust
    cert_file: Path
    key_file: Path


def make_certificate(directory: Path | str) -> Certificate:
    """A new local CA and a certificate for 127.0.0.1 and localhost, written to `directory`."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="openrooms local CA")
    issued = ca.issue_cert("127.0.0.1", "localhost", "::1")
    files = Certificate(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    files.key_file.touch(mode=0o600)
    issued.private_key_pem.write_to_path(str(files.key_file))
    issued.cert_chain_pems[0].write_to_path(str(files.cert_file))
    ca.cert_pem.write_to_path(str(files.ca_file))
    return files


class _Handler(WSGIRequestHandler):
    def setup(self) -> None:
        # The handshake here, in the connection's own thread: a slow client holds up no one.
        self.request.settimeout(30)
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.request.close()
            raise
        super().setup()

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["HTTPS"] = "on"  # wsgiref then sets wsgi.url_scheme to https
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests and benchmarks print their own summaries


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's full name; a loopback server needs
        # no name and must not wait for a resolver.
        TCPServer.server_bind(self)
        host, self.server_port = self.server_address[:2]
        assert isinstance(host, str)  # an AF_INET socket names its host as text
        self.server_name = host
        self.setup_environ()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hangs up mid-handshake is not an error of ours


@dataclass
class HttpsServer:
    """A running server: `url` (https://127.0.0.1:port), `stop()`."""

    server: _Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"https://{self.server.server_name}:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_https(
    app: Any, certificate: Certificate, *, host: str = "127.0.0.1", port: int = 0
) -> HttpsServer:
    """Serves the WSGI `app` over TLS in a daemon thread (port 0: any free port)."""
    server = _Server((host, port), _Handler)
    server.set_app(app)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="https", daemon=True)
    thread.start()
    return HttpsServer(server, thread)
