"""Backup and restore, as an operator runs them: `openrooms backup` of an instance that is being
served and written to, `openrooms restore` into a fresh data folder and database, on the suite's
engine (SQLite, or PostgreSQL when the suite runs on it)."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db import connection

from m365_emulator.testing import wait_until
from openrooms.operations.tests.processes import PROJECT, answers_health, free_port

SECRET = "Qx8~the-client-secret.42"
SET_UP = f"""
import datetime as dt, io
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from openrooms.accounts.services import do_create_api_token, do_create_organisation
from openrooms.integrations.microsoft365.connection import do_save_connection
from openrooms.spaces.models import Space
from openrooms.spaces.services import (
    do_create_floor, do_create_office, do_create_space, do_replace_plan_image)
organisation, admin = do_create_organisation(
    name="Acme", slug="acme", admin_email="admin@acme.test",
    admin_password="correct horse battery staple")
office = do_create_office(organisation, name="HQ", timezone="UTC")
floor = do_create_floor(office, name="Ground", order=0)
buffer = io.BytesIO(); Image.new("RGB", (400, 300), "white").save(buffer, "PNG")
do_replace_plan_image(floor, SimpleUploadedFile("plan.png", buffer.getvalue()))
for n in range(3):
    do_create_space(office, kind=Space.Kind.DESK, name=f"Desk {{n}}", floor=floor)
do_save_connection(organisation, tenant_id="contoso.onmicrosoft.com",
    client_id="5ca0ed64-3811-5117-9455-a85a52a9b696", client_secret="{SECRET}",
    secret_expires_on=dt.date(2099, 1, 1), write_mode="room")
print(do_create_api_token(admin)[1])
"""
FACTS = """
import hashlib, json
from openrooms import crypto
from openrooms.bookings.models import Booking
from openrooms.integrations.microsoft365.models import Connection
from openrooms.spaces.models import Floor, Space
floor = Floor.objects.get()
try:
    secret = crypto.decrypt(Connection.objects.get().client_secret_encrypted)
except crypto.SecretUnreadable:
    secret = None
print(json.dumps({
    "bookings": list(Booking.objects.order_by("pk").values_list("pk", flat=True)),
    "spaces": Space.objects.count(),
    "plan": hashlib.sha256(floor.plan_image.read()).hexdigest(), "secret": secret,
}, default=str))
"""


def database_for(tmp_path: Path, name: str) -> Iterator[str]:
    if connection.vendor != "postgresql":
        yield f"sqlite:///{tmp_path / name}.sqlite3"
        return
    database = f"openrooms_{name}_{secrets.token_hex(3)}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"]
    subprocess.run([*psql, f"CREATE DATABASE {database}"], check=True)
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{database}"
    finally:
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], check=True)


@pytest.fixture
def original_url(tmp_path: Path) -> Iterator[str]:
    yield from database_for(tmp_path, "original")


@pytest.fixture
def restored_url(tmp_path: Path) -> Iterator[str]:
    yield from database_for(tmp_path, "restored")


def instance(tmp_path: Path, name: str, database_url: str) -> dict[str, str]:
    env = {**os.environ, "OPENROOMS_DATA_DIR": str(tmp_path / name), "DATABASE_URL":
           database_url, "LOG_LEVEL": "WARNING"}
    for variable in ("DEBUG", "OPENROOMS_ENCRYPTION_KEYS", "MEDIA_ROOT"):
        env.pop(variable, None)
    return env


def manage(env: dict[str, str], *arguments: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *arguments], cwd=PROJECT, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def facts(env: dict[str, str]) -> dict:
    return json.loads(manage(env, "shell", "-c", FACTS).strip().splitlines()[-1])


@pytest.mark.parametrize("with_keys", [True, False])
def test_a_served_instance_backed_up_while_booked_restores_whole(
    tmp_path, original_url, restored_url, with_keys
):
    original = instance(tmp_path, "original", original_url)
    manage(original, "migrate", "-v", "0")
    token = manage(original, "shell", "-c", SET_UP).strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=PROJECT, env=original, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    booked: list[int] = []
    stop = threading.Event()

    def book_all_the_time() -> None:  # members booking while the backup runs
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                          timeout=10) as http:
            spaces = [space["id"] for space in http.get("/api/v1/spaces").json()]
            tomorrow = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + (
                dt.timedelta(days=1))
            slot = 0
            while not stop.is_set():
                start = tomorrow + dt.timedelta(hours=slot // len(spaces))
                answer = http.post("/api/v1/bookings", json={
                    "space": spaces[slot % len(spaces)], "start": start.isoformat(),
                    "end": (start + dt.timedelta(minutes=30)).isoformat()})
                assert answer.status_code == 201, answer.text
                booked.append(answer.json()["id"])
                slot += 1

    try:
        wait_until(lambda: answers_health(base), timeout=60, interval=0.1)
        writer = threading.Thread(target=book_all_the_time)
        writer.start()
        wait_until(lambda: len(booked) >= 5, timeout=30)
        archive = tmp_path / "backup.tar.gz"
        before_backup = len(booked)
        said = manage(original, "backup", str(archive), *(["--include-keys"] * with_keys))
        during = len(booked)
        wait_until(lambda: len(booked) >= during + 3, timeout=30)  # still booking after it
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=40)
    writer.join(timeout=10)
    assert ("encrypted with this installation's keys" in said) is not with_keys
    manifest_bookings = int(said.split("Backed up ")[1].split(": ")[1].split(" bookings")[0])
    assert before_backup <= manifest_bookings <= during  # a snapshot taken while it booked

    restored = instance(tmp_path, "restored", restored_url)
    manage(restored, "migrate", "-v", "0")  # a fresh installation, as an operator makes one
    told = manage(restored, "restore", str(archive))
    assert f"{manifest_bookings} bookings, 1 plan images" in told
    assert ("paste the secret again" in told) is not with_keys

    before, after = facts(original), facts(restored)
    assert after["bookings"] == before["bookings"][:manifest_bookings]
    assert after["spaces"] == before["spaces"] == 3
    assert after["plan"] == before["plan"]
    assert after["secret"] == (SECRET if with_keys else None)
    assert (archive.stat().st_mode & 0o777) == 0o600


def test_a_restore_refuses_an_installation_that_holds_data(tmp_path, original_url):
    original = instance(tmp_path, "original", original_url)
    manage(original, "migrate", "-v", "0")
    manage(original, "shell", "-c", SET_UP)
    archive = tmp_path / "backup.tar.gz"
    manage(original, "backup", str(archive))
    result = subprocess.run([sys.executable, "manage.py", "restore", str(archive)], cwd=PROJECT,
                            env=original, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "already holds data: restore into a fresh one" in result.stderr
