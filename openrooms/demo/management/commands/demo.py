from django.core.management import call_command
from django.core.management.base import BaseCommand

from openrooms.demo.seed import ADMIN_EMAIL, MEMBER_EMAIL, PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Migrates the embedded database, seeds a demo organisation and serves the app."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-serve", action="store_true", help="Seed, then exit.")

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        seed_demo()
        url = f"http://127.0.0.1:{options['port']}/"
        self.stdout.write(
            "\n".join([
                "",
                "openrooms demo is ready",
                f"  open        {url}",
                f"  admin       {ADMIN_EMAIL} / {PASSWORD}",
                f"  member      {MEMBER_EMAIL} / {PASSWORD}",
                f"  API docs    {url}api/v1/docs",
                "",
            ])
        )
        if not options["no_serve"]:
            call_command("runserver", f"127.0.0.1:{options['port']}", use_reloader=False)
