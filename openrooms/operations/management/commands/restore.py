"""`openrooms restore PATH`: a backup restored into this fresh installation, then migrated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from openrooms.operations.backup import BackupError, do_restore


class Command(BaseCommand):
    help = "Restores a backup made by `openrooms backup` into this installation (it must be empty)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *, path: Path, **options: Any) -> None:
        try:
            manifest = do_restore(path)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Restored the backup of {manifest['created_at']}: {manifest['bookings']} bookings, "
            f"{manifest['plan_images']} plan images."
        )
        if manifest["connections"] and not manifest["keys_restored"]:
            self.stdout.write(
                "The backup holds no encryption keys: set this installation's "
                "OPENROOMS_ENCRYPTION_KEYS to the old ones to read the Microsoft 365 client "
                "secret, or paste the secret again under Settings → Office 365."
            )
