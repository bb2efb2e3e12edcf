"""The demo walk of issue 6, on `openrooms demo` itself, in real headless Chromium.

The demo runs as a subprocess on a fresh data folder, as `make demo` runs it. The walk: paste
the printed credentials, Test settings, import a room, place it on the plan, book it and find it
on the emulator's calendar page, book a meeting there "as in Outlook" and find it on the plan
(Graph's change notification reaching the demo's HTTPS port makes that take seconds, not a
polling interval)."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from openrooms.demo.seed import ADMIN_EMAIL, MEMBER_EMAIL, PASSWORD

pytestmark = pytest.mark.browser

PROJECT = Path(__file__).resolve().parents[2]
LONDON = zoneinfo.ZoneInfo("Europe/London")
SEINE = "paris-seine@contoso.onmicrosoft.com"
ORGANIZER = "bob@contoso.onmicrosoft.com"
BANNER_FIELDS = {
    "client_id": r"Client ID\s+(\S+)",
    "client_secret": r"Client Secret\s+(\S+)",
    "tenant_id": r"Tenant ID\s+(\S+)",
    "secret_expires": r"Secret expires\s+(\S+)",
    "calendars": r"room calendars\s+(\S+)",
    "notifications": r"notifications\s+webhooks to (\S+)",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Demo:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process, self.url = process, url
        self.output: list[str] = []
        threading.Thread(target=self.read, daemon=True).start()

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def banner(self, timeout: float = 90) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = "".join(self.output)
            found = {key: re.search(pattern, text) for key, pattern in BANNER_FIELDS.items()}
            if all(found.values()) and self.serving():
                return {key: match.group(1) for key, match in found.items() if match}
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail("openrooms demo did not start:\n" + "".join(self.output)[-3000:])

    def serving(self) -> bool:
        try:
            return httpx.get(self.url + "accounts/login/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port, emulator_port, webhook_port = free_port(), free_port(), free_port()
    env = {**os.environ, "OPENROOMS_DATA_DIR": str(tmp_path / "var"), "DATABASE_URL": "",
           "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "openrooms.cli", "demo", "--port", str(port),
         "--emulator-port", str(emulator_port), "--webhook-port", str(webhook_port)],
        cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    running = Demo(process, f"http://127.0.0.1:{port}/")
    yield running
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


def sign_in(browser: Any, demo: Demo, email: str) -> Page:
    context = browser.new_context(
        base_url=demo.url, viewport={"width": 1280, "height": 900}, locale="en-GB",
        timezone_id="Europe/London", ignore_https_errors=True,  # the emulator's own CA
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("form[action$=\"/logout/\"]")).to_have_count(1)
    return page


def reload_until(page: Page, locator: Any, *, timeout: float = 90) -> None:
    """Reloads until `locator` shows (the demo's worker brings changes within its interval)."""
    deadline = time.monotonic() + timeout
    while True:
        if locator.count():
            return
        if time.monotonic() > deadline:
            expect(locator.first).to_be_visible()  # fails with Playwright's message
        page.wait_for_timeout(1000)
        page.reload()


def test_the_demo_walk_from_credentials_to_both_directions(browser: Any, demo: Demo) -> None:
    credentials = demo.banner()
    admin = sign_in(browser, demo, ADMIN_EMAIL)

    # Settings → Apps & Integrations → Office 365: paste what the banner printed, test.
    admin.goto("/settings/integrations/microsoft365/")
    admin.get_by_label("Client ID").fill(credentials["client_id"])
    admin.get_by_label("Client secret").fill(credentials["client_secret"])
    admin.get_by_label("Tenant ID").fill(credentials["tenant_id"])
    admin.get_by_label("Secret expires on").fill(credentials["secret_expires"])
    admin.get_by_role("button", name="Save").click()
    admin.get_by_role("button", name="Test settings").click()
    expect(admin.get_by_text("All steps passed")).to_be_visible()

    # Manage Rooms: import Paris HQ Seine into the demo office.
    admin.get_by_role("link", name="import your rooms").click()
    admin.locator(f'input[name="mailbox"][value="{SEINE}"]').check()
    admin.get_by_role("button", name="Import into London HQ").click()
    expect(admin.get_by_text("Imported 1 room into London HQ")).to_be_visible()

    # The plan editor: the free room box at the top gets the imported room.
    admin.goto("/settings/offices/")
    admin.get_by_role("link", name="London HQ").first.click()
    admin.get_by_role("link", name=re.compile("Edit office plan")).first.click()
    canvas = admin.locator("#plan-canvas")
    canvas.scroll_into_view_if_needed()
    admin.locator(".plan-image").evaluate("image => image.decode()")
    box = canvas.bounding_box()
    assert box is not None
    admin.mouse.click(box["x"] + 0.63 * box["width"], box["y"] + 0.2 * box["height"])
    panel = admin.locator("#plan-add")
    panel.get_by_role("button", name="Rooms").click()
    choice = panel.locator("#plan-add-space option", has_text="Paris HQ Seine")
    panel.locator("#plan-add-space").select_option(choice.get_attribute("value"))
    panel.get_by_role("button", name="Add to plan").click()
    expect(admin.locator('.plan-icon[aria-label^="Room Paris HQ Seine"]')).to_be_visible()
    expect(admin.locator("#plan-editor")).to_have_attribute("data-pending", "0")

    # A member books it from the plan for tomorrow 10:00-11:00...
    tomorrow = (dt.datetime.now(LONDON) + dt.timedelta(days=1)).date()
    member = sign_in(browser, demo, MEMBER_EMAIL)
    member.goto(f"/plan/?date={tomorrow}&start=10:00&end=11:00")
    seine = member.locator('.plan-icon[aria-label^="Room Paris HQ Seine"]')
    expect(seine).to_have_attribute("data-state", "free")
    seine.click()
    member.get_by_label("Title").fill("Demo walk")
    member.get_by_role("button", name="Book room").click()
    expect(seine).to_have_attribute("data-state", "yours")

    # ...and it appears in the room's calendar on the emulator's page.
    calendars = admin.context.new_page()
    calendars.goto(f"{credentials['calendars']}?day={tomorrow}&tz=Europe/London")
    seine_row = calendars.locator("tr", has=calendars.get_by_text(SEINE, exact=True))
    reload_until(calendars, seine_row.get_by_text(re.compile("10:00–11:00")))

    # A meeting booked there "as in Outlook" for 14:00-15:00 appears on the plan.
    booking = calendars.locator("form", has_text="Send invitation")
    booking.locator("select[name=organizer]").select_option(ORGANIZER)
    booking.locator("select[name=room]").select_option(SEINE)
    booking.locator("input[name=subject]").fill("Booked in Outlook")
    booking.locator("input[name=start]").fill("14:00")
    booking.locator("input[name=end]").fill("15:00")
    booking.get_by_role("button", name="Send invitation").click()
    expect(calendars.locator(".error")).to_have_text("")
    # The room's booking assistant answers after a moment (2 s in the demo).
    reload_until(calendars, seine_row.get_by_text(re.compile("14:00–15:00")), timeout=20)

    member.goto(f"/plan/?date={tomorrow}&start=14:00&end=15:00")
    reload_until(member, member.locator(
        '.plan-icon[aria-label^="Room Paris HQ Seine"][data-state="busy"]'))
    seine.click()
    expect(member.locator("#plan-booking")).to_contain_text("14:00–15:00")
    assert admin.js_errors == [] and member.js_errors == []  # type: ignore[attr-defined]  # set by sign_in
