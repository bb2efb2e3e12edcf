"""The day view in a real browser: rows drawn from their busy intervals, booking at the quarter
clicked, cancelling from the row."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from playwright.sync_api import Page, expect

from openrooms.accounts.models import Account
from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book
from openrooms.conftest import save_screenshot
from openrooms.spaces.models import Office, Space

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONDON = zoneinfo.ZoneInfo("Europe/London")


def tomorrow() -> dt.date:
    return dt.datetime.now(LONDON).date() + dt.timedelta(days=1)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON)


def blocks(page: Page, space: Space) -> list[tuple[str, int]]:
    """The row's timeline as drawn: (state, quarter hours) from 07:00."""
    return [
        (state, int(span))
        for state, span in page.locator(f"#space-{space.pk} .timeline .block").evaluate_all(
            "blocks => blocks.map(b => [b.classList[1], b.className.match(/span-(\\d+)/)[1]])"
        )
    ]


def test_a_row_is_drawn_from_its_bookings(
    open_page, member: Account, admin: Account, office: Office, room: Space
):
    day = tomorrow()
    do_book(room, booker=admin, start=at(day, 9), end=at(day, 10, 30), title="Planning")
    do_book(room, booker=member, start=at(day, 14), end=at(day, 15))

    page = open_page(member, f"/?office={office.pk}&date={day}")

    assert blocks(page, room) == [("free", 8), ("busy", 6), ("free", 14), ("mine", 4), ("free", 20)]
    items = page.locator(f"#space-{room.pk} .busy-item")
    expect(items.nth(0)).to_contain_text("09:00–10:30")
    expect(items.nth(1)).to_contain_text("14:00–15:00")
    expect(items.nth(1)).to_contain_text("You")
    expect(items.nth(1).get_by_role("button", name="Cancel")).to_be_visible()
    expect(items.nth(0).get_by_role("button")).to_have_count(0)
    save_screenshot(page, "day-view-rows.png")


def test_today_is_past_up_to_the_current_quarter(open_page, member: Account, office: Office,
                                                 room: Space):
    page = open_page(member, f"/?office={office.pk}")
    settings = page.locator("#day").evaluate("day => [day.dataset.first, day.dataset.now]")
    first, now = (dt.datetime.fromisoformat(text) for text in settings)
    past = max(0, min(52, (now - first) // dt.timedelta(minutes=15)))
    expected = [("past", past), ("free", 52 - past)]
    assert blocks(page, room) == [block for block in expected if block[1]]


def test_a_click_on_a_free_block_books_from_that_quarter_hour(
    open_page, member: Account, office: Office, room: Space
):
    day = tomorrow()
    page = open_page(member, f"/?office={office.pk}&date={day}")
    timeline = page.locator(f"#space-{room.pk} .timeline")
    timeline.scroll_into_view_if_needed()
    box = timeline.bounding_box()
    assert box is not None
    quarter = (11 - 7) * 4 + 1  # 11:15
    page.mouse.click(box["x"] + (quarter + 0.5) / 52 * box["width"], box["y"] + box["height"] / 2)

    form = page.locator(f"#space-{room.pk} form.booking-form")
    expect(form.get_by_label("Start")).to_have_value("11:15")
    expect(form.get_by_label("End")).to_have_value("12:15")
    form.get_by_label("Title").fill("Review")
    form.get_by_role("button", name="Book Boardroom").click()

    expect(page.locator(f"#space-{room.pk} .row-note")).to_contain_text("11:15 to 12:15")
    expect(page.locator(f"#space-{room.pk} .block.mine.span-4")).to_have_count(1)
    assert blocks(page, room) == [("free", 17), ("mine", 4), ("free", 31)]
    booking = Booking.objects.get()
    assert (booking.start, booking.end) == (at(day, 11, 15), at(day, 12, 15))
    assert booking.booker == member


def test_cancelling_from_the_row_redraws_it_for_its_day(
    open_page, member: Account, admin: Account, office: Office, room: Space
):
    day = tomorrow()
    booking = do_book(room, booker=member, start=at(day, 9), end=at(day, 10))
    do_book(room, booker=admin, start=at(day, 14), end=at(day, 15))
    page = open_page(member, f"/?office={office.pk}&date={day}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#space-{room.pk} .busy-item.mine").get_by_role("button", name="Cancel").click()

    expect(page.locator(f"#space-{room.pk} .busy-item.mine")).to_have_count(0)
    # The row comes back for the page's day: the other booking is still there.
    expect(page.locator(f"#space-{room.pk} .busy-item")).to_contain_text("14:00–15:00")
    assert blocks(page, room) == [("free", 28), ("busy", 4), ("free", 20)]
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert not page.js_errors
