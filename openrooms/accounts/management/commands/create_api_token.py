"""`openrooms create_api_token`: prints an account's new API token (only its hash is stored)."""

from django.core.management.base import BaseCommand, CommandError

from openrooms.accounts.models import Account
from openrooms.accounts.services import do_create_api_token


class Command(BaseCommand):
    help = "Prints a new API token for an account as the last line (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", default="", help="What the token is for.")

    def handle(self, *args, **options):
        account = Account.objects.filter(email=options["email"].strip().lower()).first()
        if account is None or not account.is_active:
            raise CommandError(f"No active account with the email {options['email']!r}.")
        row, token = do_create_api_token(account, name=options["name"])
        self.stdout.write(f"API token {row.hint}… for {account.email}; it is shown only once:")
        self.stdout.write(token)
