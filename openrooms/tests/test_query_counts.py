"""The pages people use every day make as many queries for a big office as for a small one:
each is measured with a few spaces and bookings, then with four times as many, and must make
the same number. A change that adds a query per row fails here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from openrooms.accounts.models import Account
from openrooms.accounts.services import do_create_api_token
from openrooms.bookings.services import do_book
from openrooms.spaces.models import Floor, Office, Space
from openrooms.spaces.office_time import at_office, today_in
from openrooms.spaces.services import do_create_space

pytestmark = pytest.mark.django_db


def grow(office: Office, floor: Floor, booker: Account, count: int) -> None:
    """`count` more rooms and desks on the floor, each booked once tomorrow by `booker`."""
    day = today_in(office) + dt.timedelta(days=1)
    for n in range(count):
        for kind in (Space.Kind.ROOM, Space.Kind.DESK):
            space = do_create_space(office, kind=kind, name=f"{kind} {Space.objects.count()}",
                                    floor=floor)
            space.plan_x, space.plan_y = 0.5, 0.5
            space.save()
            hour = 8 + n % 9
            do_book(space, booker=booker, start=at_office(office, day, dt.time(hour)),
                    end=at_office(office, day, dt.time(hour + 1)), title="Planning")


def queries_of(request: Callable[[], object]) -> int:
    request()  # the first call may warm caches (content types, the session)
    with CaptureQueriesContext(connection) as queries:
        request()
    return len(queries.captured_queries)


def same_queries_when_four_times_bigger(office, floor, member, request) -> tuple[int, int]:
    grow(office, floor, member, 3)
    small = queries_of(request)
    grow(office, floor, member, 9)
    return small, queries_of(request)


def test_the_day_view(member_client: Client, office, floor, member):
    day = (today_in(office) + dt.timedelta(days=1)).isoformat()
    small, big = same_queries_when_four_times_bigger(
        office, floor, member, lambda: member_client.get("/", {"office": office.pk, "date": day}))
    assert small == big, (small, big)


def test_the_plan_and_its_status(member_client: Client, office, floor, member):
    day = (today_in(office) + dt.timedelta(days=1)).isoformat()

    def plan_and_status() -> None:
        member_client.get(reverse("plan_view"), {"office": office.pk})
        member_client.get(reverse("plan_status", args=[floor.pk]),
                          {"date": day, "start": "09:00", "end": "10:00"})

    small, big = same_queries_when_four_times_bigger(office, floor, member, plan_and_status)
    assert small == big, (small, big)


def test_the_availability_api(office, floor, member):
    _, token = do_create_api_token(member)
    api = Client(headers={"authorization": f"Bearer {token}"})
    day = (today_in(office) + dt.timedelta(days=1)).isoformat()
    small, big = same_queries_when_four_times_bigger(
        office, floor, member,
        lambda: api.get("/api/v1/availability", {"office": office.pk, "date": day}))
    assert small == big, (small, big)


def test_my_bookings(member_client: Client, office, floor, member):
    small, big = same_queries_when_four_times_bigger(
        office, floor, member, lambda: member_client.get(reverse("my_bookings")))
    assert small == big, (small, big)
