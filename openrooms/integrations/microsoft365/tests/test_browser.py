"""An administrator connects Office 365 and imports two rooms, in real headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connections

from openrooms.conftest import PASSWORD, save_screenshot, watch_js_errors
from openrooms.integrations.microsoft365.models import RoomLink
from openrooms.integrations.microsoft365.tests.conftest import app_named

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

SEINE = "paris-seine@contoso.onmicrosoft.com"
SAONE = "lyon-saone@contoso.onmicrosoft.com"


@pytest.fixture
def page(browser: Any, live_server: Any, settings: Any) -> Iterator[Any]:
    # The live server speaks plain HTTP: cookies must not be Secure-only there.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch_js_errors(page)
    yield page
    context.close()


def linked_mailboxes() -> set[str]:
    """Read in a thread of its own: under Playwright's running event loop Django would open a
    connection for the loop's context and keep it, and the test database could not be dropped."""

    def read() -> set[str]:
        try:
            return {link.mailbox for link in RoomLink.objects.all()}
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(read).result()


def test_an_admin_connects_office_365_and_imports_two_rooms(
    admin: Any, office: Any, graph_settings: dict[str, Any], page: Any
) -> None:
    from playwright.sync_api import expect

    app = app_named(graph_settings, "openrooms")
    page.goto("/accounts/login/?next=/settings/integrations/microsoft365/")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Office 365", exact=True)).to_be_visible()

    page.get_by_label("Client ID").fill(app["client_id"])
    page.get_by_label("Client secret").fill(app["secret_value"])
    page.get_by_label("Tenant ID").fill(graph_settings["tenant_id"])
    page.get_by_label("Secret expires on").fill("2099-12-31")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("•••• set on")).to_be_visible()
    assert app["secret_value"] not in page.content()

    page.get_by_label("Also test writing").check()
    page.get_by_role("button", name="Test settings").click()
    expect(page.locator(".m365-step-ok")).to_have_count(4)
    expect(page.get_by_text("All steps passed")).to_be_visible()
    expect(page.locator("#m365-status")).to_have_text("Connected")
    expect(page.locator(".m365-step-failed")).to_have_count(0)
    save_screenshot(page, "office365-settings.png")

    page.get_by_role("link", name="import your rooms").click()
    expect(page.get_by_role("heading", name="Manage Rooms")).to_be_visible()
    expect(page.get_by_text("123 of 123 rooms")).to_be_visible()
    page.get_by_label("Building").select_option("Lyon office")
    expect(page.locator(f'input[name="mailbox"][value="{SEINE}"]')).to_have_count(0)
    expect(page.locator(f'input[name="mailbox"][value="{SAONE}"]')).to_have_count(1)
    # htmx wires up swapped-in content when it settles (20 ms on): a person cannot be faster.
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-settling')")
    page.get_by_label("Building").select_option("")
    expect(page.get_by_text("123 of 123 rooms")).to_be_visible()
    page.get_by_label("Select every room shown").check()
    expect(page.locator('input[name="mailbox"]:checked')).to_have_count(123)
    page.get_by_label("Select every room shown").uncheck()
    expect(page.locator('input[name="mailbox"]:checked')).to_have_count(0)
    page.locator(f'input[name="mailbox"][value="{SEINE}"]').check()
    page.locator(f'input[name="mailbox"][value="{SAONE}"]').check()
    page.get_by_role("button", name="Import into London HQ").click()
    expect(page.get_by_text("Imported 2 rooms into London HQ")).to_be_visible()
    expect(page.get_by_text("Imported into London HQ")).to_have_count(2)
    expect(page.get_by_role("heading", name="Imported rooms")).to_be_visible()
    page.screenshot(path="/tmp/m365-rooms.png")
    assert linked_mailboxes() == {SEINE, SAONE}
    assert page.js_errors == []

