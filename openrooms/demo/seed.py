"""The demo organisation: an office, a floor, desks and rooms, and a realistic day of bookings."""

from __future__ import annotations

import datetime as dt
import tempfile
import zoneinfo
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from openrooms.accounts.models import Account, Organisation
from openrooms.accounts.services import do_create_account, do_create_organisation
from openrooms.bookings.errors import BookingError
from openrooms.bookings.services import do_book
from openrooms.demo.drawings import draw_plan
from openrooms.spaces.models import Floor, Space
from openrooms.spaces.services import (
    do_create_floor,
    do_create_office,
    do_create_space,
    do_place_space,
    do_replace_plan_image,
)

SLUG = "demo"
ADMIN_EMAIL = "admin@demo.openrooms.test"
MEMBER_EMAIL = "member@demo.openrooms.test"
PASSWORD = "book-a-desk-today"  # noqa: S105 - the demo prints it; it guards nothing real
ROOMS = [("Boardroom", 12, ["screen", "video"]), ("Focus", 2, []), ("Studio", 6, ["screen"]),
         ("Garden", 8, ["video", "whiteboard"])]
DESKS = 10


@transaction.atomic
def seed_demo() -> tuple[Organisation, Account]:
    """Creates the demo organisation once; later calls return the existing one."""
    existing = Organisation.objects.filter(slug=SLUG).first()
    if existing is not None:
        return existing, existing.accounts.get(email=ADMIN_EMAIL)
    organisation, admin = do_create_organisation(
        name="Demo Company", slug=SLUG, admin_email=ADMIN_EMAIL, admin_password=PASSWORD,
        timezone_name="Europe/London",
    )
    admin.name = "Ada Admin"
    admin.save(update_fields=["name"])
    member = do_create_account(
        organisation, email=MEMBER_EMAIL, password=PASSWORD, name="Max Member"
    )
    office = do_create_office(
        organisation, name="London HQ", address="1 Demo Street, London", timezone="Europe/London"
    )
    floor = do_create_floor(office, name="Ground floor", order=0)
    rooms = [
        do_create_space(office, kind=Space.Kind.ROOM, name=name, capacity=capacity,
                        amenities=amenities, floor=floor)
        for name, capacity, amenities in ROOMS
    ]
    desks = [
        do_create_space(office, kind=Space.Kind.DESK, name=f"Desk {n:02d}", floor=floor)
        for n in range(1, DESKS + 1)
    ]
    draw_and_place(floor, rooms, desks)
    book_a_realistic_day(rooms, desks, [admin, member], office.timezone)
    return organisation, admin


def draw_and_place(floor: Floor, rooms: list[Space], desks: list[Space]) -> None:
    """Gives the floor a drawn plan with the desks and two rooms on it; a room box stays free
    for a room imported from Microsoft 365."""
    with tempfile.TemporaryDirectory() as folder:
        path = draw_plan(Path(folder) / "plan.png", 1400, 800)
        do_replace_plan_image(
            floor, SimpleUploadedFile("ground-floor.png", path.read_bytes(), "image/png")
        )
    for room, (x, y) in zip(rooms[:2], [(0.16, 0.2), (0.41, 0.2)], strict=False):
        do_place_space(room, floor, x, y)
    seats = [
        (0.14 + cluster * 0.28 + seat * 0.09, 0.565 + row * 0.20)
        for row in range(2) for cluster in range(3) for seat in range(2)
    ]
    for desk, (x, y) in zip(desks, seats, strict=False):
        do_place_space(desk, floor, x, y)


def book_a_realistic_day(
    rooms: list[Space], desks: list[Space], people: list[Account], zone_name: str
) -> None:
    """Bookings today (those still ahead) and tomorrow, so the first page shows a busy day."""
    zone = zoneinfo.ZoneInfo(zone_name)
    today = timezone.now().astimezone(zone).date()
    for day in (today, today + dt.timedelta(days=1)):

        def at(hour: int, minute: int = 0, day: dt.date = day) -> dt.datetime:
            return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)

        plans = [
            (rooms[0], at(9), at(10), "Weekly planning"),
            (rooms[0], at(14), at(15, 30), "Customer review"),
            (rooms[1], at(11), at(11, 30), "1:1"),
            (rooms[2], at(10), at(12), "Design workshop"),
            (rooms[3], at(16), at(17), "Retrospective"),
            (desks[0], at(8), at(18), ""),
            (desks[3], at(9), at(17), ""),
            (desks[5], at(13), at(18), ""),
        ]
        for index, (space, start, end, title) in enumerate(plans):
            try:
                do_book(space, booker=people[index % len(people)], start=start, end=end,
                        title=title)
            except BookingError:
                continue  # already past today, or a rule an operator tightened
