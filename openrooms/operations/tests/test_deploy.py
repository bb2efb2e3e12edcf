"""Every file in deploy/ is checked: the Caddyfile by `caddy validate`, the systemd units by
`systemd-analyze verify` and by running each unit's own command as systemd would (started,
then stopped with the unit's KillSignal within its TimeoutStopSec), the environment template
against every variable the code reads, and the upgrade notes against the commands they name."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from m365_emulator.testing import wait_until
from openrooms.operations.tests.processes import PROJECT, answers_health, free_port

DEPLOY = PROJECT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALLED_AT = "/opt/openrooms"


def test_the_caddyfile_is_valid_for_caddy():
    result = subprocess.run(
        [shutil.which("caddy") or "caddy", "validate", "--config", str(DEPLOY / "Caddyfile"),
         "--adapter", "caddyfile"], capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reverse_proxy 127.0.0.1:8000" in (DEPLOY / "Caddyfile").read_text()


def unit_here(unit: Path, folder: Path) -> Path:
    """The unit as installed on this machine: this checkout for /opt/openrooms, root for the
    service user (the test cannot create one), the env file where it is."""
    text = unit.read_text().replace(INSTALLED_AT, str(PROJECT))
    text = re.sub(r"^(User|Group)=.*$", r"\1=root", text, flags=re.MULTILINE)
    text = re.sub(r"^EnvironmentFile=.*$", f"EnvironmentFile={DEPLOY / 'openrooms.env'}", text,
                  flags=re.MULTILINE)
    local = folder / unit.name
    local.write_text(text)
    return local


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_each_systemd_unit_verifies(unit, tmp_path):
    local = unit_here(unit, tmp_path)
    name = local.name.replace("@.service", "@1.service")
    if name != local.name:
        local = local.rename(local.with_name(name))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(local)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def unit_service(unit: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read(unit)
    return parser["Service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_each_units_command_starts_and_stops_as_systemd_would_stop_it(unit, tmp_path):
    service = unit_service(unit)
    command = shlex.split(service["ExecStart"].replace(INSTALLED_AT, str(PROJECT)))
    port = free_port()
    command = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in command]
    env = {**os.environ, "OPENROOMS_DATA_DIR": str(tmp_path / "data"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'unit.sqlite3'}", "LOG_LEVEL": "WARNING"}
    env.pop("DEBUG", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=PROJECT, env=env,
                   check=True)
    log = (tmp_path / "unit.log").open("w")
    process = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        if "serve" in command:
            wait_until(lambda: answers_health(f"http://127.0.0.1:{port}"), timeout=60)
        else:
            wait_until(lambda: process.poll() is not None or _ticked(env), timeout=60)
        assert process.poll() is None, (tmp_path / "unit.log").read_text()
        process.send_signal(getattr(signal, service.get("KillSignal", "SIGTERM")))
        assert process.wait(timeout=float(service["TimeoutStopSec"])) == 0
    finally:
        if process.poll() is None:
            process.kill()


def _ticked(env: dict[str, str]) -> bool:
    """A scheduler or worker has reached its database (its lease or heartbeat is there)."""
    script = ("from openrooms.jobs.models import WorkLease, WorkerHeartbeat; "
              "print(WorkLease.objects.exclude(holder='').exists() "
              "or WorkerHeartbeat.objects.exists())")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=PROJECT,
                            env=env, capture_output=True, text=True, check=False)
    return result.stdout.strip().endswith("True")


CODE_READING_THE_ENVIRONMENT = [
    PROJECT / "openrooms" / "settings.py",
    PROJECT / "openrooms" / "operations" / "serving.py",
]


def variables_read_by_the_code() -> set[str]:
    names = set()
    for path in CODE_READING_THE_ENVIRONMENT:
        text = path.read_text()
        names |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', text))
        names |= set(re.findall(r'env_bool\("([A-Z_]+)"', text))
        for secret in re.findall(r'env_secret\("([A-Z_]+)"', text):
            names |= {secret, f"{secret}_FILE"}  # env_secret reads NAME or NAME_FILE
    return names


def test_the_environment_template_lists_every_variable_the_code_reads_and_no_other():
    template = (DEPLOY / "openrooms.env").read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", template, flags=re.MULTILINE))
    read = variables_read_by_the_code()
    assert read - listed == set(), "missing from deploy/openrooms.env"
    assert listed - read == set(), "in deploy/openrooms.env but read by nothing"


def test_the_upgrade_notes_name_commands_that_exist():
    notes = (DEPLOY / "UPGRADING.md").read_text()
    for command in set(re.findall(r"`openrooms (\w+)", notes)):
        result = subprocess.run([sys.executable, "manage.py", command, "--help"], cwd=PROJECT,
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, command
    for unit in re.findall(r"(openrooms-[a-z]+)", notes):
        assert any(path.name.startswith(unit) for path in UNITS), unit
