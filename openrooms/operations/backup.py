"""Backups of a running instance, and restoring one: the database and the plan images.

A backup is one gzipped tar: `manifest.json`, the database (SQLite: a consistent copy through
SQLite's online backup API, taken while the app runs; PostgreSQL: `pg_dump --format=custom`)
and `media/` (the plan images). The Microsoft 365 client secret is stored encrypted with the
installation's encryption keys (OPENROOMS_ENCRYPTION_KEYS, or `encryption_key` in the data
folder), which a backup leaves out unless asked (`--include-keys`): keep them apart, as one
would a password. Restored without them, everything comes back but the secret, which an
administrator pastes again (Test settings says so).

A restore goes into the configured database, which must be empty (a fresh installation), then
runs the migrations, so a backup of an older version restores into a newer one.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from openrooms.bookings.models import Booking
from openrooms.integrations.microsoft365.models import Connection
from openrooms.spaces.models import Floor

FORMAT = 1
# What a backup says it holds, counted in the snapshot it dumps (table names are the models').
COUNTS = {
    "bookings": f"SELECT count(*) FROM {Booking._meta.db_table}",  # noqa: S608
    "plan_images": f"SELECT count(*) FROM {Floor._meta.db_table} WHERE plan_image <> ''",  # noqa: S608
    "connections": f"SELECT count(*) FROM {Connection._meta.db_table}",  # noqa: S608
}


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    engine: str
    bookings: int
    plan_images: int
    connections: int
    keys_included: bool


def engine() -> str:
    return "postgresql" if connection.vendor == "postgresql" else "sqlite"


def postgres_environment() -> tuple[list[str], dict[str, str]]:
    """pg_dump/pg_restore's connection arguments, and the password in the environment only."""
    db = settings.DATABASES["default"]
    arguments = ["--host", db.get("HOST") or "127.0.0.1", "--port", str(db.get("PORT") or 5432),
                 "--username", db.get("USER") or "postgres", "--dbname", db["NAME"]]
    environment = {"PATH": "/usr/bin:/bin:/usr/local/bin"}
    if db.get("PASSWORD"):
        environment["PGPASSWORD"] = db["PASSWORD"]
    return arguments, environment


def dump_database(folder: Path) -> tuple[str, dict[str, int]]:
    """The database's file in `folder`, and what it holds, counted in the same snapshot."""
    if engine() == "sqlite":
        target = folder / "database.sqlite3"
        source = sqlite3.connect(settings.DATABASES["default"]["NAME"])
        try:
            with sqlite3.connect(target) as copy:
                source.backup(copy)  # a consistent snapshot, writers may go on
                return target.name, {name: copy.execute(sql).fetchone()[0]
                                     for name, sql in COUNTS.items()}
        finally:
            source.close()
    target = folder / "database.pgdump"
    arguments, environment = postgres_environment()
    with transaction.atomic(), connection.cursor() as cursor:
        # pg_dump reads the snapshot this transaction sees, so the counts are of the dump.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        counts = {}
        for name, sql in COUNTS.items():
            cursor.execute(sql)
            counts[name] = cursor.fetchone()[0]
        run(["pg_dump", "--format=custom", "--no-owner", f"--snapshot={snapshot}",
             "--file", str(target), *arguments], environment)
    return target.name, counts


def run(command: list[str], environment: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 - our own arguments, no shell
        command, env=environment, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()[:2000]}")


def do_backup(path: Path, *, include_keys: bool = False) -> BackupSummary:
    """Writes a backup of this installation to `path` (a .tar.gz)."""
    media = Path(settings.MEDIA_ROOT)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        database_file, counts = dump_database(folder)
        summary = BackupSummary(path=path, engine=engine(), keys_included=include_keys, **counts)
        manifest: dict[str, Any] = {
            "format": FORMAT, "engine": summary.engine, "database": database_file,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "bookings": summary.bookings, "plan_images": summary.plan_images,
            "connections": summary.connections,
        }
        if include_keys:
            manifest["encryption_keys"] = list(settings.ENCRYPTION_KEYS)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            add_bytes(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
            archive.add(folder / database_file, arcname=database_file)
            if media.exists():
                archive.add(media, arcname="media")
        partial.chmod(0o600)  # it holds every booking, and maybe the keys
        partial.replace(path)
    return summary


def add_bytes(archive: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(content))


def do_restore(path: Path) -> dict[str, Any]:
    """Restores the backup at `path` into this (empty) installation; returns its manifest."""
    if database_has_data():
        raise BackupError(
            "This installation's database already holds data: restore into a fresh one (a new "
            "DATABASE_URL or data folder), so nothing is overwritten by mistake."
        )
    with tempfile.TemporaryDirectory() as scratch, tarfile.open(path, "r:gz") as archive:
        folder = Path(scratch)
        archive.extractall(folder, filter="data")
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("format") != FORMAT:
            raise BackupError(f"Unknown backup format {manifest.get('format')!r}.")
        if manifest["engine"] != engine():
            raise BackupError(
                f"This backup is of a {manifest['engine']} database and this installation "
                f"uses {engine()}; restore it into a {manifest['engine']} installation."
            )
        load_database(folder / manifest["database"])
        manifest["keys_restored"] = bool(manifest.get("encryption_keys")) and restore_keys(
            manifest.pop("encryption_keys")
        )
        if (folder / "media").exists():
            shutil.copytree(folder / "media", settings.MEDIA_ROOT, dirs_exist_ok=True)
    call_command("migrate", verbosity=0)
    return manifest


def database_has_data() -> bool:
    if "accounts_organisation" not in connection.introspection.table_names():
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM accounts_organisation LIMIT 1")
        return cursor.fetchone() is not None


def restore_keys(keys: list[str]) -> bool:
    """Adds a backup's encryption keys to this installation's key file (after its own, which
    keeps encrypting); False when the keys come from the environment, which the operator sets."""
    if os.environ.get("OPENROOMS_ENCRYPTION_KEYS") or os.environ.get(
        "OPENROOMS_ENCRYPTION_KEYS_FILE"
    ):
        return False
    combined = list(dict.fromkeys([*settings.ENCRYPTION_KEYS, *keys]))
    key_file = Path(settings.DATA_DIR) / "encryption_key"
    key_file.write_text(",".join(combined))
    key_file.chmod(0o600)
    return True


def load_database(dump: Path) -> None:
    if engine() == "sqlite":
        connection.close()
        target = Path(settings.DATABASES["default"]["NAME"])
        for stale in (target, target.with_name(target.name + "-wal"),
                      target.with_name(target.name + "-shm")):
            stale.unlink(missing_ok=True)
        with sqlite3.connect(dump) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        return
    arguments, environment = postgres_environment()
    connection.close()
    run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--exit-on-error",
         *arguments, str(dump)], environment)
