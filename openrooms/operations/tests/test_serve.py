"""`openrooms serve` for real: gunicorn processes serving pages and static files, reloading on
SIGHUP and stopping on SIGTERM; /healthz and /readyz as a load balancer reads them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.test import Client

from m365_emulator.testing import wait_until
from openrooms.jobs.heartbeat import beat, release_all
from openrooms.operations import health
from openrooms.operations.tests.processes import PROJECT, answers_health, free_port


def worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


@pytest.fixture
def served(tmp_path: Path):
    """`openrooms serve` on its own migrated SQLite database, with two processes."""
    env = {**os.environ, "OPENROOMS_DATA_DIR": str(tmp_path / "data"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}", "LOG_LEVEL": "WARNING"}
    env.pop("DEBUG", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=PROJECT, env=env,
                   check=True)
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "2"],
        cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers_health(base), timeout=60, interval=0.1)
    yield process, base, tmp_path / "serve.log"
    if process.poll() is None:
        process.kill()


def test_serve_answers_pages_static_files_and_health_with_an_access_log(served):
    _, base, log = served
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/accounts/login/").status_code == 200
        css = http.get("/static/css/app.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        assert http.get("/healthz").json() == {"status": "alive"}
        ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] and ready.json()["migrations_applied"]
    assert ready.json()["status"] == "degraded"  # no worker runs beside this server
    wait_until(lambda: '"GET /accounts/login/ HTTP/1.1" 200' in log.read_text(), timeout=5)


def test_sighup_replaces_the_processes_without_a_failed_request_and_sigterm_stops(served):
    process, base, _ = served
    before = wait_until(lambda: len(worker_pids(process.pid)) == 2 and worker_pids(process.pid),
                        timeout=20)
    process.send_signal(signal.SIGHUP)
    failures = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/accounts/login/", timeout=5).status_code != 200:
                failures += 1
        except httpx.TransportError:
            failures += 1
        after = worker_pids(process.pid)
        if len(after) == 2 and not after & before:
            break
    assert len(after) == 2 and not after & before, (before, after)
    assert failures == 0
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0


def test_health_needs_no_allowed_host_session_or_https(settings, db):
    settings.SECURE_SSL_REDIRECT = True
    client = Client(HTTP_HOST="10.1.2.3")  # a balancer probing the machine's address
    assert client.get("/healthz").status_code == 200
    answer = client.get("/readyz")
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    assert "sessionid" not in answer.cookies
    assert client.post("/readyz").status_code == 405


def test_readiness_is_503_without_the_database_or_its_migrations(monkeypatch, db):
    client = Client()
    monkeypatch.setattr(health, "database_reachable", lambda: False)
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["status"] == "not_ready" and not down.json()["database"]
    monkeypatch.setattr(health, "database_reachable", lambda: True)
    monkeypatch.setattr(health, "migrations_applied_once", False)
    monkeypatch.setattr(health.MigrationExecutor, "migration_plan", lambda *_: [("pending", 0)])
    behind = client.get("/readyz")
    assert behind.status_code == 503
    assert "run `openrooms migrate`" in behind.json()["problems"][0]


def test_readiness_reports_workers_and_the_oldest_undelivered_change(db):
    client = Client()
    assert "No worker seen in the last minute" in client.get("/readyz").json()["problems"][0]
    beat("test-host:1:abc:")
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["workers_alive"] == 1
    assert ready["oldest_undelivered_seconds"] is None
    release_all("test-host:1:abc:")
    assert client.get("/readyz").json()["workers_alive"] == 0
