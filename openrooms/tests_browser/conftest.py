"""Real headless Chromium (Debian's package) driven by Playwright, against pytest-django's
live server. Playwright cannot download browsers here; `make system-deps` installs Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from openrooms.accounts.models import Account
from openrooms.conftest import watch_js_errors


@pytest.fixture(autouse=True)
def served_over_plain_http(settings: object, tmp_path: Path) -> None:
    # The live server speaks plain HTTP: cookies must not be Secure-only there.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def open_page(browser: object, live_server: object) -> Iterator[object]:
    """open_page(account, path, **context options) -> a Playwright page signed in as account."""
    contexts = []

    def open_as(account: Account, path: str, **options: object) -> object:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        options.setdefault("locale", "en-GB")
        options.setdefault("timezone_id", "Europe/London")
        context = browser.new_context(base_url=live_server.url, **options)
        contexts.append(context)
        client = Client()
        client.force_login(account)
        context.add_cookies(
            [
                {
                    "name": django_settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        watch_js_errors(page)
        page.goto(path)
        return page

    yield open_as
    for context in contexts:
        context.close()
