"""`openrooms send_secret_expiry_warnings`: e-mails admins whose client secret expires soon."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from openrooms.integrations.microsoft365.connection import email_secret_expiry_warnings


class Command(BaseCommand):
    help = (
        "E-mails administrators when their Microsoft 365 client secret expires in 30, 14 or 1 "
        "days, or expired yesterday. Run it once a day."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--today", type=dt.date.fromisoformat, default=None,
            help="The date to check from (YYYY-MM-DD); today by default.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sent = email_secret_expiry_warnings(options["today"] or timezone.localdate())
        self.stdout.write(f"{sent} warning e-mail{'' if sent == 1 else 's'} sent.")
