"""`openrooms demo`: the embedded default in one command.

Migrates the SQLite database, seeds the demo organisation, starts the Microsoft 365 emulator
(with the demo tenant, its CA and state under the data folder) and a worker process for the
background tasks (delivering bookings to room calendars), and serves the app. Nothing
secret is pre-filled: the banner shows the emulator's app credentials to paste into
Settings → Apps & Integrations → Office 365, as an admin would paste Azure's.
"""

import os
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from openrooms.demo.seed import ADMIN_EMAIL, MEMBER_EMAIL, PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Migrates the embedded database, seeds a demo organisation, starts the Microsoft 365 "
    help += "emulator and serves the app."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--emulator-port", type=int, default=9365)
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
        emulator = None if options["no_serve"] else self.start_emulator(options["emulator_port"])
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
            ]
        self.stdout.write("\n".join([*lines, ""]))
        if not options["no_serve"]:
            worker = self.start_worker()
            try:
                call_command("runserver", f"127.0.0.1:{options['port']}", use_reloader=False)
            finally:
                worker.terminate()
                worker.wait(timeout=10)
                emulator.stop()

    def start_worker(self) -> subprocess.Popen[bytes]:
        """`openrooms worker` beside the web server, talking to the same emulator."""
        env = {
            **os.environ,
            "MICROSOFT_LOGIN_URL": settings.MICROSOFT_LOGIN_URL,
            "MICROSOFT_GRAPH_URL": settings.MICROSOFT_GRAPH_URL,
            "MICROSOFT_CA_FILE": settings.MICROSOFT_CA_FILE,
        }
        command = [sys.executable, "-m", "openrooms.cli", "worker", "--no-startup-delay"]
        return subprocess.Popen(command, env=env)  # noqa: S603 - our own command

    def start_emulator(self, port: int):  # type: ignore[no-untyped-def]
        from m365_emulator.server import start_emulator

        state = settings.DATA_DIR / "m365-emulator"
        handle = start_emulator(
            port=port, state_dir=state, state_file=state / "state.json", rba_delay_seconds=2.0
        )
        config = handle.config()
        # The product's Graph client reads these when it is created, so the running app
        # talks to the emulator exactly as it would to Microsoft.
        settings.MICROSOFT_LOGIN_URL = config["authority"].rsplit("/", 1)[0]
        settings.MICROSOFT_GRAPH_URL = config["graph_url"]
        settings.MICROSOFT_CA_FILE = config["ca_file"]
        return handle
