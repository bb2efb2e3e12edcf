"""Shared fixtures: an organisation with an admin and a member, and an outsider elsewhere."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client
from pytest_django import Settings

from openrooms.accounts.models import Account, Organisation
from openrooms.accounts.services import do_create_account, do_create_organisation
from openrooms.spaces.models import Floor, Office, Space
from openrooms.spaces.services import do_create_floor, do_create_office, do_create_space

if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORD = "correct horse battery staple"
# Debian's Chromium, headless; without the background-networking flags it keeps dialling out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


DOCS = Path(__file__).resolve().parents[1] / "docs"


def save_screenshot(page: Page, name: str) -> Path:
    """Screenshots the whole page as docs/<name> when OPENROOMS_UPDATE_SCREENSHOTS is set (the
    README's pictures), else into a temporary folder: a test run leaves the checkout as it was."""
    folder = DOCS if os.environ.get("OPENROOMS_UPDATE_SCREENSHOTS") else Path(tempfile.mkdtemp())
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)
    return folder / name


def watch_js_errors(page: Any) -> list[str]:
    """Collects the page's uncaught errors and console errors in `page.js_errors` (tests
    assert it stays empty). The browser asks for /favicon.ico on its own; that 404 is not the
    page's fault."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def on_console(message: Any) -> None:
        if message.type == "error" and "favicon" not in message.location.get("url", ""):
            errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.js_errors = errors
    return errors


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A missing browser is a broken set-up, never a reason to skip what it would test.
    if not shutil.which("chromium") and any("browser" in item.keywords for item in items):
        raise pytest.UsageError("Chromium is not installed: run `make system-deps`.")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Real headless Chromium driven by Playwright (which cannot download browsers here)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # around it are still plain synchronous calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails any test that reaches beyond this machine."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else ""
        if host and host not in {"127.0.0.1", "localhost", "::1"} and self.family != socket.AF_UNIX:
            raise RuntimeError(f"A test tried to reach {address}; tests stay on this machine.")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Settings) -> None:
    # Argon2 is deliberately slow; tests that check the production hasher do so explicitly.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_organisation(slug: str, admin_email: str) -> tuple[Organisation, Account]:
    return do_create_organisation(
        name=slug.title(),
        slug=slug,
        admin_email=admin_email,
        admin_password=PASSWORD,
        timezone_name="Europe/London",
    )


@pytest.fixture
def organisation_and_admin(db: None) -> tuple[Organisation, Account]:
    return make_organisation("acme", "admin@acme.test")


@pytest.fixture
def organisation(organisation_and_admin: tuple[Organisation, Account]) -> Organisation:
    return organisation_and_admin[0]


@pytest.fixture
def admin(organisation_and_admin: tuple[Organisation, Account]) -> Account:
    return organisation_and_admin[1]


@pytest.fixture
def member(organisation: Organisation) -> Account:
    return do_create_account(
        organisation, email="member@acme.test", password=PASSWORD, name="Mia Member"
    )


@pytest.fixture
def other_organisation(db: None) -> Organisation:
    return make_organisation("globex", "admin@globex.test")[0]


@pytest.fixture
def outsider(other_organisation: Organisation) -> Account:
    return do_create_account(other_organisation, email="outsider@globex.test", password=PASSWORD)


@pytest.fixture
def office(organisation: Organisation) -> Office:
    return do_create_office(
        organisation, name="London HQ", address="1 Example Street", timezone="Europe/London"
    )


@pytest.fixture
def floor(office: Office) -> Floor:
    return do_create_floor(office, name="Ground floor", order=0)


@pytest.fixture
def desk(office: Office, floor: Floor) -> Space:
    return do_create_space(office, kind=Space.Kind.DESK, name="Desk 1", floor=floor)


@pytest.fixture
def room(office: Office, floor: Floor) -> Space:
    return do_create_space(
        office, kind=Space.Kind.ROOM, name="Boardroom", floor=floor, capacity=10,
        amenities=["screen", "video"],
    )


def signed_in(account: Account) -> Client:
    client = Client()
    client.force_login(account)
    return client


@pytest.fixture
def admin_client(admin: Account) -> Client:
    return signed_in(admin)


@pytest.fixture
def member_client(member: Account) -> Client:
    return signed_in(member)
