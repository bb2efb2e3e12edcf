"""The office plan in a real browser: an administrator draws it, a member books from it."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from openrooms.accounts.models import Account
from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book
from openrooms.conftest import save_screenshot
from openrooms.demo.drawings import draw_plan
from openrooms.spaces.models import Floor, Space
from openrooms.spaces.services import do_create_space, do_place_space, do_replace_plan_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONDON = zoneinfo.ZoneInfo("Europe/London")


def show_plan(page: Page) -> None:
    page.locator("#plan-canvas").evaluate("canvas => canvas.scrollIntoView({block: 'center'})")


def click_plan_at(page: Page, x: float, y: float) -> None:
    show_plan(page)
    box = page.locator("#plan-canvas").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def icon_named(page: Page, kind: str, name: str):
    return page.locator(f'.plan-icon[data-id][aria-label^="{kind} {name}"]')


def place_on_screen(page: Page, locator) -> tuple[float, float]:
    """Where an icon's centre is, as fractions of the plan image on screen."""
    # (wait_for_function would poll with eval, which the page's CSP rightly forbids)
    page.locator(".plan-image").evaluate("image => image.decode()")
    plan = page.locator(".plan-image").bounding_box()
    assert plan is not None
    box = locator.bounding_box()
    centre_x = box["x"] + box["width"] / 2
    centre_y = box["y"] + box["height"] / 2
    return (centre_x - plan["x"]) / plan["width"], (centre_y - plan["y"]) / plan["height"]


def wait_for_saves(page: Page) -> None:
    expect(page.locator("#plan-editor")).to_have_attribute("data-pending", "0")


def test_an_admin_draws_the_office_plan(
    open_page, admin: Account, floor: Floor, desk: Space, room: Space, tmp_path: Path
) -> None:
    editor = reverse("plan_editor", args=[floor.office_id, floor.pk])
    page = open_page(admin, editor)
    expect(page.locator(".plan-empty")).to_contain_text("has no plan yet")

    # Upload a plan.
    page.set_input_files("#plan-image-input", str(draw_plan(tmp_path / "ground.png", 1000, 560)))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Plan image uploaded (1000 x 560")
    assert page.js_errors == []

    # Click an empty spot: the panel opens on Desks; add the desk.
    click_plan_at(page, 0.15, 0.57)
    panel = page.locator("#plan-add")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("button", name="Desks")).to_have_attribute("aria-pressed", "true")
    panel.locator("#plan-add-space").select_option(label="Desk 1")
    panel.get_by_role("button", name="Add to plan").click()
    expect(icon_named(page, "Desk", "Desk 1")).to_be_visible()

    # Another spot: toggle to Rooms, pick the room from the drop-down.
    click_plan_at(page, 0.40, 0.18)
    panel.get_by_role("button", name="Rooms").click()
    expect(panel.get_by_role("button", name="Rooms")).to_have_attribute("aria-pressed", "true")
    panel.locator("#plan-add-space").select_option(label="Boardroom (10 seats)")
    panel.get_by_role("button", name="Add to plan").click()
    room_icon = icon_named(page, "Room", "Boardroom")
    expect(room_icon).to_be_visible()
    expect(room_icon).to_have_attribute("title", "Room Boardroom, 10 seats")

    # And a brand-new desk, named in the panel.
    # The panel remembers Rooms; switch back to Desks.
    click_plan_at(page, 0.31, 0.77)
    panel.get_by_role("button", name="Desks").click()
    panel.locator("#plan-add-new").fill("Window desk")
    panel.get_by_role("button", name="Add to plan").click()
    expect(icon_named(page, "Desk", "Window desk")).to_be_visible()
    assert Space.objects.get(name="Window desk").floor == floor

    # Drag the desk with the mouse.
    show_plan(page)
    desk_icon = icon_named(page, "Desk", "Desk 1")
    start = desk_icon.bounding_box()
    plan = page.locator(".plan-image").bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(plan["x"] + 0.24 * plan["width"], plan["y"] + 0.60 * plan["height"], steps=8)
    page.mouse.up()
    wait_for_saves(page)

    # Nudge the room with the arrow buttons: four steps right, two up, half a percent each.
    room.refresh_from_db()
    before_nudging = (room.plan_x, room.plan_y)
    room_icon.click()
    for _ in range(4):
        page.get_by_role("button", name="Move right").click()
    for _ in range(2):
        page.get_by_role("button", name="Move up").click()
    wait_for_saves(page)
    expect(page.locator("#plan-status")).to_contain_text("Boardroom")

    desk.refresh_from_db()
    room.refresh_from_db()
    assert desk.plan_x == pytest.approx(0.24, abs=0.01)
    assert desk.plan_y == pytest.approx(0.60, abs=0.01)
    room_x, room_y = room.plan_x, room.plan_y
    assert room_y is not None
    assert room_x == pytest.approx(0.40 + 4 * 0.005, abs=0.003)
    assert room_y == pytest.approx(0.18 - 2 * 0.005, abs=0.003)

    # Keyboard arrows move the selected icon too; a run of arrow presses is one move, and
    # undo puts the room back where it was before the run.
    room_icon.focus()
    page.keyboard.press("ArrowDown")
    wait_for_saves(page)
    room.refresh_from_db()
    assert room.plan_y == pytest.approx(room_y + 0.005, abs=1e-6)
    page.get_by_role("button", name="Undo last move").click()
    expect(page.locator("#plan-status")).to_contain_text("Undone")
    wait_for_saves(page)
    room.refresh_from_db()
    assert (room.plan_x, room.plan_y) == pytest.approx(before_nudging, abs=1e-6)

    # Put it back with the keyboard for the rest of the test.
    room_icon.focus()
    for key in ["ArrowRight"] * 4 + ["ArrowUp"] * 2:
        page.keyboard.press(key)
    wait_for_saves(page)

    # Reload: everything is where it was left.
    page.reload()
    for space in (desk, room):
        space.refresh_from_db()
        located = place_on_screen(page, icon_named(page, space.get_kind_display(), space.name))
        assert located == pytest.approx((space.plan_x, space.plan_y), abs=0.004)

    # A new image of another size and shape: every icon at the same relative place.
    page.set_input_files("#plan-image-input", str(draw_plan(tmp_path / "v2.png", 1400, 1000)))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("check their positions")
    floor.refresh_from_db()
    assert (floor.plan_width, floor.plan_height) == (1400, 1000)
    for space in (desk, room):
        located = place_on_screen(page, icon_named(page, space.get_kind_display(), space.name))
        assert located == pytest.approx((space.plan_x, space.plan_y), abs=0.004)

    # The icons fit the window at 1280 x 800 and no script failed.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.js_errors == []

    # For the README: a busier floor, the add panel open on Rooms.
    with draw_plan(tmp_path / "v3.png", 1000, 560).open("rb") as file:
        do_replace_plan_image(floor, SimpleUploadedFile("v3.png", file.read()))
    office = floor.office
    do_place_space(desk, floor, 0.14, 0.565)
    do_place_space(room, floor, 0.16, 0.2)
    do_place_space(Space.objects.get(name="Window desk"), floor, 0.51, 0.565)
    for n, (x, y) in enumerate([(0.23, 0.565), (0.14, 0.765), (0.23, 0.765), (0.42, 0.565)]):
        do_create_space(office, kind="desk", name=f"Desk {n + 2}", floor=floor, plan_x=x, plan_y=y)
    for n in range(6, 9):
        do_create_space(office, kind="desk", name=f"Desk {n}", floor=floor)
    do_create_space(office, kind="room", name="Focus", capacity=2, floor=floor, plan_x=0.41,
                    plan_y=0.2)
    do_create_space(office, kind="room", name="Studio", capacity=6, floor=floor)
    page.goto(editor)
    click_plan_at(page, 0.58, 0.2)
    panel.get_by_role("button", name="Rooms").click()
    panel.locator("#plan-add-space").select_option(label="Studio (6 seats)")
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(0, 0)
    save_screenshot(page, "plan-editor.png")


def test_the_editor_works_with_touch_on_a_tablet(
    open_page, admin: Account, floor: Floor, desk: Space, tmp_path: Path
) -> None:
    plan = draw_plan(tmp_path / "ground.png", 1000, 560)
    with plan.open("rb") as file:
        do_replace_plan_image(floor, SimpleUploadedFile("ground.png", file.read()))
    do_place_space(desk, floor, 0.2, 0.6)
    page = open_page(
        admin, reverse("plan_editor", args=[floor.office_id, floor.pk]),
        viewport={"width": 1024, "height": 768}, has_touch=True, is_mobile=True,
        device_scale_factor=2,
    )
    desk_icon = icon_named(page, "Desk", "Desk 1")
    desk_icon.scroll_into_view_if_needed()
    start = desk_icon.bounding_box()
    image = page.locator(".plan-image").bounding_box()
    session = page.context.new_cdp_session(page)

    def touch(kind: str, x: float, y: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": x, "y": y}]
        session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    touch("touchStart", x, y)
    target_x, target_y = image["x"] + 0.5 * image["width"], image["y"] + 0.45 * image["height"]
    for step in range(1, 11):
        touch("touchMove", x + (target_x - x) * step / 10, y + (target_y - y) * step / 10)
    touch("touchEnd", target_x, target_y)
    wait_for_saves(page)
    desk.refresh_from_db()
    assert (desk.plan_x, desk.plan_y) == pytest.approx((0.5, 0.45), abs=0.01)

    # The arrows are on screen and big enough to tap.
    arrows = page.get_by_role("button", name="Move left")
    arrows.scroll_into_view_if_needed()
    box = arrows.bounding_box()
    assert box["width"] >= 40 and box["height"] >= 40
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    assert page.js_errors == []


def test_a_member_books_a_desk_from_the_plan(
    open_page, admin: Account, member: Account, floor: Floor, desk: Space, room: Space,
    tmp_path: Path,
) -> None:
    plan = draw_plan(tmp_path / "ground.png", 1000, 560)
    with plan.open("rb") as file:
        do_replace_plan_image(floor, SimpleUploadedFile("ground.png", file.read()))
    do_place_space(desk, floor, 0.145, 0.565)
    do_place_space(room, floor, 0.16, 0.2)
    office = floor.office
    for n, (x, y) in enumerate([(0.235, 0.565), (0.145, 0.765), (0.235, 0.765), (0.425, 0.565)]):
        other = Space.objects.create(office=office, floor=floor, kind="desk", name=f"Desk {n + 2}",
                                     plan_x=x, plan_y=y)
        if n == 1:
            taken = other
    small_room = Space.objects.create(office=office, floor=floor, kind="room", name="Focus",
                                      capacity=2, plan_x=0.41, plan_y=0.2)
    tomorrow = (timezone.now().astimezone(LONDON) + dt.timedelta(days=1)).date()

    def at(hour: int) -> dt.datetime:
        return dt.datetime.combine(tomorrow, dt.time(hour), tzinfo=LONDON)

    do_book(room, booker=admin, start=at(10), end=at(11), title="Board meeting")
    do_book(taken, booker=admin, start=at(8), end=at(18))

    page = open_page(member, f"{reverse('plan_view')}?date={tomorrow}&start=10:00&end=11:00")
    desk_icon = icon_named(page, "Desk", "Desk 1")
    room_icon = icon_named(page, "Room", "Boardroom")
    expect(desk_icon).to_have_attribute("data-state", "free")
    expect(room_icon).to_have_attribute("data-state", "busy")
    expect(room_icon).to_have_attribute("aria-label", "Room Boardroom, 10 seats: busy")
    expect(room_icon.locator(".plan-icon__seats")).to_have_text("10")

    # Busy: who and when, without the subject (the organisation does not show subjects).
    room_icon.click()
    popover = page.locator("#plan-booking")
    expect(popover).to_contain_text("10:00–11:00 · admin")
    expect(popover).not_to_contain_text("Board meeting")
    page.keyboard.press("Escape")

    # The time changes: the plan follows without reloading the page.
    page.evaluate("window.notReloaded = true")
    page.fill("input[name=start]", "12:00")
    page.fill("input[name=end]", "13:00")
    page.locator("input[name=end]").dispatch_event("change")
    expect(room_icon).to_have_attribute("data-state", "free")
    assert page.evaluate("window.notReloaded") is True
    assert "start=12%3A00" in page.url or "start=12:00" in page.url

    # Book the desk for the whole day: it turns "yours".
    desk_icon.click()
    expect(popover).to_contain_text("the whole day (08:00-18:00)")
    popover.get_by_role("button", name="Book desk").click()
    expect(desk_icon).to_have_attribute("data-state", "yours")
    expect(page.locator("#plan-status")).to_contain_text("Booked Desk 1")
    booking = Booking.objects.get(space=desk)
    assert booking.booker == member
    assert (booking.start, booking.end) == (at(8), at(18))

    # Filters dim what does not fit.
    page.fill("input[name=capacity]", "4")
    expect(desk_icon).to_have_class(re.compile("is-dimmed"))
    expect(icon_named(page, "Room", "Focus")).to_have_class(re.compile("is-dimmed"))
    expect(room_icon).not_to_have_class(re.compile("is-dimmed"))
    page.fill("input[name=capacity]", "")
    assert small_room.pk
    assert page.js_errors == []

    # For the README: the morning, with the booked desk and a busy room open.
    page.fill("input[name=start]", "10:00")
    page.fill("input[name=end]", "11:00")
    page.locator("input[name=end]").dispatch_event("change")
    expect(room_icon).to_have_attribute("data-state", "busy")
    icon_named(page, "Desk", "Desk 5").click()
    expect(popover).to_contain_text("Book desk")
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(0, 0)
    save_screenshot(page, "plan-view.png")
