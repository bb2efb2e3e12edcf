"""`openrooms create_account`: adds an account (administrator or member) to an organisation."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from openrooms.accounts.models import Account, Organisation
from openrooms.accounts.services import do_create_account


class Command(BaseCommand):
    help = "Adds an account to an organisation."

    def add_arguments(self, parser):
        parser.add_argument("--organisation", required=True, help="The organisation's slug.")
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--role", choices=Account.Role.values, default=Account.Role.MEMBER)
        parser.add_argument("--name", default="")

    def handle(self, *args, **options):
        organisation = Organisation.objects.filter(slug=options["organisation"]).first()
        if organisation is None:
            raise CommandError(f"No organisation with the slug {options['organisation']!r}.")
        try:
            account = do_create_account(
                organisation,
                email=options["email"],
                password=options["password"],
                role=options["role"],
                name=options["name"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(f"Created {account.role} {account.email} in {organisation.slug}")
