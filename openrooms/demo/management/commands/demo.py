"""`openrooms demo`: the embedded default in one command.

Migrates the SQLite database, seeds the demo organisation, starts the Microsoft 365 emulator
(with the demo tenant, its CA and state under the data folder) and a worker process for the
background tasks (delivering bookings to room calendars, pulling them back), and serves the
app. Nothing secret is pre-filled: the banner shows the emulator's app credentials to paste
into Settings → Apps & Integrations → Office 365, as an admin would paste Azure's.

Graph only sends change notifications to https addresses, so besides the plain-HTTP site the
demo serves the app over TLS on a second port (a local CA the emulator trusts) and uses it as
`PUBLIC_BASE_URL`: Outlook changes reach the demo through webhooks, as in production.
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.core.wsgi import get_wsgi_application

from openrooms.demo.seed import ADMIN_EMAIL, MEMBER_EMAIL, PASSWORD, seed_demo
from openrooms.tls_server import Certificate, HttpsServer, make_certificate, serve_https

if TYPE_CHECKING:
    from m365_emulator.server import EmulatorHandle


class Command(BaseCommand):
    help = "Migrates the embedded database, seeds a demo organisation, starts the Microsoft 365 "
    help += "emulator and serves the app."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--emulator-port", type=int, default=9365)
        parser.add_argument(
            "--webhook-port", type=int, default=8443,
            help="HTTPS port on which the emulator delivers change notifications (0: polling).",
        )
        parser.add_argument("--no-serve", action="store_true", help="Seed, then exit.")

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        seed_demo()
        url = f"http://127.0.0.1:{options['port']}/"
        lines = [
            "",
            "openrooms demo is ready",
            f"  open        {url}",
            f"  admin       {ADMIN_EMAIL} / {PASSWORD}",
            f"  member      {MEMBER_EMAIL} / {PASSWORD}",
            f"  API docs    {url}api/v1/docs",
        ]
        hooks = None
        if not options["no_serve"] and options["webhook_port"]:
            hooks = self.serve_webhooks(options["webhook_port"])
        emulator = None
        if not options["no_serve"]:
            emulator = self.start_emulator(
                options["emulator_port"], hooks[1].ca_file if hooks else None
            )
        if emulator is not None:
            config = emulator.config()
            app = next(app for app in config["apps"] if app["name"] == "openrooms")
            lines += [
                "",
                "Microsoft 365 emulator (stands in for your tenant; paste these in Settings →",
                "Apps & Integrations → Office 365, then press Test settings)",
                f"  Client ID      {app['client_id']}",
                f"  Client Secret  {app['secret_value']}",
                f"  Tenant ID      {config['tenant_id']}",
                f"  Secret expires {app['secret_expires'][:10]}",
                f"  room calendars {config['web_url']}",
                f"                 (its certificate is signed by {config['ca_file']};",
                "                  let your browser proceed, or trust that CA)",
                "  notifications  " + (
                    f"webhooks to {settings.PUBLIC_BASE_URL}/hooks/microsoft365/"
                    if hooks else f"none: each room is polled every "
                    f"{settings.MICROSOFT_POLL_SECONDS:g} s"
                ),
            ]
        self.stdout.write("\n".join([*lines, ""]))
        if not options["no_serve"]:
            worker = self.start_worker()
            try:
                call_command("runserver", f"127.0.0.1:{options['port']}", use_reloader=False)
            finally:
                worker.terminate()
                worker.wait(timeout=10)
                if emulator is not None:
                    emulator.stop()
                if hooks:
                    hooks[0].stop()

    def start_worker(self) -> subprocess.Popen[bytes]:
        """`openrooms worker` beside the web server, talking to the same emulator."""
        env = {
            **os.environ,
            "MICROSOFT_LOGIN_URL": settings.MICROSOFT_LOGIN_URL,
            "MICROSOFT_GRAPH_URL": settings.MICROSOFT_GRAPH_URL,
            # Empty is unset to the worker's settings, as None is here.
            "MICROSOFT_CA_FILE": settings.MICROSOFT_CA_FILE or "",
            "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
        }
        command = [sys.executable, "-m", "openrooms.cli", "worker", "--no-startup-delay"]
        return subprocess.Popen(command, env=env)  # noqa: S603 - our own command

    def serve_webhooks(self, port: int) -> tuple[HttpsServer, Certificate]:
        """The app over TLS for the emulator's change notifications; it becomes the public
        base URL of this installation (for the web process and the worker)."""
        certificate = make_certificate(settings.DATA_DIR / "webhook-tls")
        server = serve_https(get_wsgi_application(), certificate, port=port)
        settings.PUBLIC_BASE_URL = server.url
        return server, certificate

    def start_emulator(self, port: int, webhook_ca: Path | None) -> "EmulatorHandle":
        from m365_emulator.server import start_emulator

        state = settings.DATA_DIR / "m365-emulator"
        trust = {"webhook_verify": str(webhook_ca)} if webhook_ca else {}
        handle = start_emulator(
            port=port, state_dir=state, state_file=state / "state.json", rba_delay_seconds=2.0,
            **trust,
        )
        config = handle.config()
        # The product's Graph client reads these when it is created, so the running app
        # talks to the emulator exactly as it would to Microsoft.
        settings.MICROSOFT_LOGIN_URL = config["authority"].rsplit("/", 1)[0]
        settings.MICROSOFT_GRAPH_URL = config["graph_url"]
        settings.MICROSOFT_CA_FILE = config["ca_file"]
        return handle
