"""Real headless Chromium driven by Playwright, against pytest-django's live server.

The Chromium is Debian's package: Playwright cannot download browsers here; `make system-deps`
installs Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from pytest_django import Settings

from openrooms.accounts.models import Account
from openrooms.conftest import watch_js_errors

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page
    from pytest_django.live_server_helper import LiveServer


@pytest.fixture(autouse=True)
def served_over_plain_http(settings: Settings, tmp_path: Path) -> None:
    # The live server speaks plain HTTP: cookies must not be Secure-only there.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def open_page(browser: Browser, live_server: LiveServer) -> Iterator[Callable[..., Page]]:
    """open_page(account, path, **context options) -> a Playwright page signed in as account."""
    contexts: list[BrowserContext] = []

    def open_as(account: Account, path: str, **options: Any) -> Page:
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
