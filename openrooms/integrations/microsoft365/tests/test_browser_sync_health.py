"""An administrator gives up on a failing outbox entry on the sync health page, in Chromium.

It runs in real headless Chromium; the page's screenshot goes to docs/sync-health.png."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.test import Client
from django.utils import timezone

from openrooms.accounts.services import do_create_account
from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book
from openrooms.conftest import PASSWORD, save_screenshot, watch_js_errors
from openrooms.integrations.microsoft365.models import OutboxEntry
from openrooms.integrations.microsoft365.tests.outbox_helpers import SEINE, linked_room, slot
from openrooms.integrations.microsoft365.tests.test_sync_health import (
    DENIED,
    connect_offline,
    failing_entry,
    state_of,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

BASTILLE = "paris-bastille@contoso.onmicrosoft.com"


@pytest.fixture
def page(browser: Any, live_server: Any, settings: Any, admin: Any) -> Iterator[Any]:
    """A page signed in as the admin."""
    # The live server speaks plain HTTP: cookies must not be Secure-only there.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB",
        timezone_id="Europe/London",
    )
    client = Client()
    client.force_login(admin)
    context.add_cookies([{
        "name": django_settings.SESSION_COOKIE_NAME,
        "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }])
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch_js_errors(page)
    yield page
    context.close()


def entry_state(pk: int) -> str:
    """Read in a thread of its own (see test_browser.linked_mailboxes)."""

    def read() -> str:
        try:
            return OutboxEntry.objects.get(pk=pk).state
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(read).result()


@pytest.fixture
def one_failing_entry(organisation: Any, office: Any) -> OutboxEntry:
    """Two rooms, one pulling fine with a live subscription and one whose pulls fail; a
    booking whose event Outlook keeps refusing; a meeting booked in Outlook over a booking."""
    connect_offline(organisation)
    now = timezone.now()
    seine = linked_room(organisation, office, SEINE)
    bastille = linked_room(organisation, office, BASTILLE)
    for space, name in ((seine, "Paris Seine"), (bastille, "Paris Bastille")):
        space.name = name
        space.save(update_fields=["name"])
    state_of(seine, last_pull_at=now - dt.timedelta(seconds=40),
             last_success_at=now - dt.timedelta(seconds=40),
             last_full_sync_at=now - dt.timedelta(hours=3),
             next_pull_at=now + dt.timedelta(seconds=20), subscription_id="sub-seine",
             subscription_expires_at=now + dt.timedelta(days=2, hours=5))
    state_of(bastille, last_pull_at=now - dt.timedelta(minutes=2),
             last_success_at=now - dt.timedelta(hours=1, minutes=10),
             last_error=DENIED, last_error_at=now - dt.timedelta(minutes=2), failures=6,
             next_pull_at=now + dt.timedelta(minutes=30))
    alice = do_create_account(organisation, email="alice@contoso.onmicrosoft.com",
                              password=PASSWORD, name="Alice Martin")
    start, end = slot(days=2, hour=9)
    booking = do_book(seine, booker=alice, start=start, end=end, title="Quarterly review")
    entry = failing_entry(
        booking,
        last_error="Paris Seine is already booked in Outlook from 10:00 to 11:00; the booking "
        "is not in the room's calendar. Move or cancel one of the two, or give up on this "
        "change. (RoomConflict)",
    )
    start, end = slot(days=3, hour=13)
    do_book(bastille, booker=alice, start=start, end=end, title="Hiring panel")
    OutboxEntry.objects.filter(booking__space=bastille).update(state=OutboxEntry.State.DELIVERED)
    Booking.objects.create(
        space=bastille, start=start, end=end, source=Booking.Source.OUTLOOK,
        status=Booking.Status.CONFLICT, organizer_name="Bob Wilson", graph_event_id="evt-bob",
        status_reason="Booked in Outlook over Alice Martin's booking of "
        f"{timezone.localtime(start):%Y-%m-%d %H:%M}–{timezone.localtime(end):%H:%M}; "
        "one of the two must move.",
    )
    return entry


def test_an_admin_gives_up_on_a_failing_change(page: Any, one_failing_entry: OutboxEntry) -> None:
    from playwright.sync_api import expect

    entry = one_failing_entry
    page.goto("/settings/integrations/microsoft365/")
    page.get_by_role("link", name="Sync health").first.click()
    expect(page.get_by_role("heading", name="Sync health")).to_be_visible()
    expect(page.locator("#sync-summary")).to_contain_text("1 in error")
    expect(page.locator("#sync-summary")).to_contain_text("1 failing")
    row = page.locator(f"#outbox-entry-{entry.pk}")
    expect(row).to_contain_text("already booked in Outlook")
    expect(row).to_contain_text("Failing")
    save_screenshot(page, "sync-health.png")

    row.get_by_role("link", name="Give up").click()
    expect(page.get_by_role("heading", name="Give up on this change?")).to_be_visible()
    assert entry_state(entry.pk) == OutboxEntry.State.FAILED
    page.get_by_role("button", name="Give up").click()

    expect(page.get_by_text("it is no longer retried")).to_be_visible()
    row = page.locator(f"#outbox-entry-{entry.pk}")
    expect(row).to_contain_text("Given up by")
    expect(row.get_by_role("button", name="Retry now")).to_have_count(0)
    expect(page.locator("#sync-summary")).to_contain_text("0 failing")
    assert entry_state(entry.pk) == OutboxEntry.State.GIVEN_UP
    assert page.js_errors == []
