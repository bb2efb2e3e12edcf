"""`openrooms backup PATH`: the database and the plan images in one file, while the app runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from openrooms.operations.backup import BackupError, do_backup


class Command(BaseCommand):
    help = "Backs up the database and the plan images to PATH (a .tar.gz), while the app runs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--include-keys", action="store_true",
            help="Also store the encryption keys that decrypt the Microsoft 365 client secret "
            "(the backup then needs the care of a password).",
        )

    def handle(self, *, path: Path, include_keys: bool, **options: Any) -> None:
        try:
            summary = do_backup(path, include_keys=include_keys)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Backed up {summary.engine}: {summary.bookings} bookings, {summary.plan_images} "
            f"plan images, {summary.connections} Microsoft 365 connection(s) to {path}."
        )
        if summary.connections and not include_keys:
            self.stdout.write(
                "The Microsoft 365 client secret is encrypted with this installation's keys "
                "(OPENROOMS_ENCRYPTION_KEYS, or encryption_key in the data folder), which this "
                "backup does not hold: keep them safe apart from it, or restore will need the "
                "secret pasted again (or back up with --include-keys)."
            )
