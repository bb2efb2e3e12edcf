"""Schemathesis against the running app's OpenAPI document, as a member and as an administrator:
no input may reach a server error, and every answer must match what the document declares."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from openrooms.accounts.models import Account
from openrooms.accounts.services import do_create_api_token
from openrooms.bookings.services import do_book
from openrooms.spaces.models import Space
from openrooms.spaces.office_time import at_office, today_in

# Per operation and phase; with the coverage phase's boundary cases and the stateful phase's
# scenarios it is about a thousand requests for the whole document, in under a minute.
EXAMPLES_PER_OPERATION = int(os.environ.get("OPENROOMS_FUZZ_EXAMPLES", "30"))
CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = os.environ.get("OPENROOMS_FUZZ_SEED", "20261204")


def fuzz(base_url: str, token: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG),
            "run", f"{base_url}/api/v1/openapi.json",
            "--checks", "all",
            "--header", f"Authorization: Bearer {token}",
            "--max-examples", str(EXAMPLES_PER_OPERATION),
            "--seed", SEED,
            "--workers", "1",
            "--generation-database", "none",
            "--request-timeout", "20",
            "--no-color",
        ],
        capture_output=True, text=True, timeout=600, check=False, cwd=folder,
    )


@pytest.mark.parametrize("role", ["member", "admin"])
def test_no_input_reaches_a_server_error_or_breaks_the_schema(
    role: str, live_server, transactional_db, admin: Account, member: Account,
    room: Space, desk: Space, tmp_path: Path,
) -> None:
    account = admin if role == "admin" else member
    day = today_in(room.office) + dt.timedelta(days=1)
    do_book(room, booker=member, start=at_office(room.office, day, dt.time(10)),
            end=at_office(room.office, day, dt.time(11)), title="Stand-up")
    _, token = do_create_api_token(account, name="fuzz")

    result = fuzz(live_server.url, token, tmp_path)  # its own files stay in tmp_path

    print(f"schemathesis as {role}: {summary(result.stdout)}")
    assert result.returncode == 0, result.stdout[-30000:] + result.stderr[-5000:]


def summary(output: str) -> str:
    """The run's count of requests ("Test cases: 1421 generated, 1421 passed")."""
    found = re.search(r"Test cases:\s*\n?\s*(.*)", output)
    return found.group(1).strip() if found else "no summary"

