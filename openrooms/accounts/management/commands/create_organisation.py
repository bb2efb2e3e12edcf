"""`openrooms create_organisation`: creates an organisation with its first administrator."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from openrooms.accounts.services import do_create_organisation


class Command(BaseCommand):
    help = "Creates an organisation with its first administrator."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args, **options):
        try:
            organisation, admin = do_create_organisation(
                name=options["name"],
                slug=options["slug"],
                admin_email=options["admin_email"],
                admin_password=options["admin_password"],
                timezone_name=options["timezone"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(f"Created organisation {organisation.slug} with admin {admin.email}")
