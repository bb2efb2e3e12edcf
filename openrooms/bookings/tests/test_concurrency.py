"""No double booking, whatever the concurrency: proven on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from openrooms.accounts.services import do_create_api_token
from openrooms.bookings.models import Booking

REQUESTS = 100


@pytest.mark.django_db(transaction=True)
def test_hundred_concurrent_requests_for_one_slot_make_exactly_one_booking(member, room):
    _, token = do_create_api_token(member)
    start = (timezone.now() + dt.timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    body = {
        "space": room.pk,
        "start": start.isoformat(),
        "end": (start + dt.timedelta(hours=1)).isoformat(),
        "title": "Contended",
    }
    everyone_ready = threading.Barrier(REQUESTS)

    def book(_: int) -> tuple[int, dict]:
        client = Client(headers={"authorization": f"Bearer {token}"})
        try:
            everyone_ready.wait()
            response = client.post("/api/v1/bookings", body, content_type="application/json")
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        results = list(pool.map(book, range(REQUESTS)))

    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == REQUESTS - 1, statuses
    conflict = next(payload for status, payload in results if status == 409)
    assert conflict["error"]["conflict"]["start"] == start.isoformat()
    assert Booking.objects.filter(space=room, status=Booking.Status.CONFIRMED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_of_overlapping_ranges_never_overlap(member, room):
    _, token = do_create_api_token(member)
    base = (timezone.now() + dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    # 40 requests over staggered, partly overlapping half-hour-to-two-hour ranges.
    ranges = [
        (base + dt.timedelta(minutes=15 * (i % 12)), dt.timedelta(minutes=30 * (1 + i % 4)))
        for i in range(40)
    ]
    everyone_ready = threading.Barrier(len(ranges))

    def book(item: tuple[dt.datetime, dt.timedelta]) -> int:
        start, length = item
        client = Client(headers={"authorization": f"Bearer {token}"})
        try:
            everyone_ready.wait()
            return client.post(
                "/api/v1/bookings",
                {"space": room.pk, "start": start.isoformat(), "end": (start + length).isoformat()},
                content_type="application/json",
            ).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        statuses = list(pool.map(book, ranges))

    assert set(statuses) <= {201, 409}
    booked = list(Booking.objects.filter(space=room, status="confirmed").order_by("start"))
    assert len(booked) == statuses.count(201) >= 1
    for earlier, later in itertools.pairwise(booked):
        assert earlier.end <= later.start, f"{earlier} overlaps {later}"
