"""Unusual but well-formed input through the API: refused with a 4xx naming the field, never a 500.

The classes the hardening review found (offsets beyond the real range, NUL and control
characters, days at the edge of the calendar, numbers or arrays where a datetime belongs),
each through every kind of input that carries it: a JSON body, a query filter, a path."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

import pytest
from django.test import Client
from django.utils import timezone

from openrooms.accounts.services import do_create_api_token
from openrooms.bookings.models import Booking

LONDON = zoneinfo.ZoneInfo("Europe/London")


def api_client(account) -> Client:
    _, token = do_create_api_token(account)
    return Client(headers={"authorization": f"Bearer {token}"}, raise_request_exception=False)


@pytest.fixture
def client_of_member(member) -> Client:
    return api_client(member)


@pytest.fixture
def client_of_admin(admin) -> Client:
    return api_client(admin)


def tomorrow(hour: int) -> str:
    day = timezone.now().astimezone(LONDON).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=LONDON).isoformat()


def refused(response, field: str, *, status: int = 422) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert field in error["fields"], error
    return error["fields"][field]


@pytest.mark.parametrize("offset", ["+16:30", "-13:00", "+14:01", "+23:59"])
def test_an_offset_beyond_the_real_range_is_refused_naming_the_field(
    client_of_member, room, offset
):
    start = tomorrow(9)[:-6] + offset
    response = client_of_member.post(
        "/api/v1/bookings", {"space": room.pk, "start": start, "end": tomorrow(23)},
        content_type="application/json",
    )
    assert "-12:00 to +14:00" in refused(response, "start")
    assert not Booking.objects.exists()


def test_the_real_extremes_of_offsets_are_accepted(client_of_member, room):
    base = tomorrow(12)[:19]
    kiribati = client_of_member.get("/api/v1/bookings", {"from": base + "+14:00"})
    baker_island = client_of_member.get("/api/v1/bookings", {"to": base + "-12:00"})
    assert kiribati.status_code == baker_island.status_code == 200


@pytest.mark.parametrize("title", ["Stand\x00up", "bell\x07", "escape\x1b[31m"])
def test_control_characters_in_a_text_field_are_refused(client_of_member, room, title):
    response = client_of_member.post(
        "/api/v1/bookings",
        {"space": room.pk, "start": tomorrow(9), "end": tomorrow(10), "title": title},
        content_type="application/json",
    )
    assert "Control characters" in refused(response, "title")
    assert not Booking.objects.exists()


def test_tabs_and_new_lines_are_text(client_of_member, room):
    response = client_of_member.post(
        "/api/v1/bookings",
        {"space": room.pk, "start": tomorrow(9), "end": tomorrow(10), "title": "Plan\tQ1\r\n"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content


def test_nul_in_an_administrators_office_fields_is_refused(client_of_admin):
    for field in ("name", "address", "timezone"):
        body = {"name": "Paris", "address": "", "timezone": "Europe/Paris", field: "Pa\x00ris"}
        response = client_of_admin.post("/api/v1/offices", body, content_type="application/json")
        refused(response, field)
    response = client_of_admin.post(
        "/api/v1/spaces", {"office": 1, "kind": "desk", "name": "D", "amenities": ["a\x00"]},
        content_type="application/json",
    )
    refused(response, "amenities.0")


@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-01", "10000-01-01"])
def test_a_day_at_the_edge_of_the_calendar_is_refused_by_availability(
    client_of_member, office, date
):
    response = client_of_member.get("/api/v1/availability", {"office": office.pk, "date": date})
    refused(response, "query.date")


def test_the_last_and_first_days_the_product_holds_are_answered(client_of_member, office, room):
    for date in ("9999-12-30", "0001-01-02"):
        response = client_of_member.get(
            "/api/v1/availability", {"office": office.pk, "date": date}
        )
        assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "instant", ["9999-12-31T23:00:00-12:00", "0001-01-01T00:00:00Z", "0001-01-01T05:00:00+06:00"]
)
def test_an_instant_outside_the_years_both_databases_hold_is_refused_in_filters_and_writes(
    client_of_member, room, instant
):
    refused(client_of_member.get("/api/v1/bookings", {"from": instant}), "query.from")
    refused(client_of_member.get("/api/v1/bookings", {"to": instant}), "query.to")
    response = client_of_member.post(
        "/api/v1/bookings", {"space": room.pk, "start": instant, "end": tomorrow(10)},
        content_type="application/json",
    )
    refused(response, "start")


@pytest.mark.parametrize("value", [[["2026-11-25T09:00:00Z"]], 1764061200, "1764061200", "0.5"])
def test_only_an_iso_string_is_read_as_a_datetime(client_of_member, room, value):
    response = client_of_member.post(
        "/api/v1/bookings", {"space": room.pk, "start": value, "end": tomorrow(10)},
        content_type="application/json",
    )
    assert "ISO 8601" in refused(response, "start")
    if isinstance(value, str):
        assert "ISO 8601" in refused(
            client_of_member.get("/api/v1/bookings", {"to": value}), "query.to"
        )


def test_a_body_that_is_not_json_is_a_json_400(client_of_member):
    response = client_of_member.post(
        "/api/v1/bookings", b"\x00", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_a_huge_identifier_is_not_found_on_both_engines(client_of_member):
    for path in ("/api/v1/bookings/99999999999999999999999", "/api/v1/spaces/9223372036854775808"):
        response = client_of_member.get(path)
        assert response.status_code in {404, 422}, response.content
        assert "error" in response.json()


def test_the_openapi_document_declares_every_error_each_operation_answers(client_of_member):
    document = json.loads(client_of_member.get("/api/v1/openapi.json").content)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"400", "401", "413", "422"} <= statuses, (method, path, statuses)
            for status in statuses - {"200", "201", "204"}:
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (path, status)
            if "{" in path or method in {"post", "patch"}:
                assert "404" in statuses or path == "/api/v1/offices", (method, path)
    assert document["paths"]["/api/v1/bookings"]["post"]["responses"].keys() >= {"409"}
    assert document["paths"]["/api/v1/offices"]["post"]["responses"].keys() >= {"403"}
