"""Unusual but well-formed input through the pages: a field error or a JSON 422, never a 500.

The same classes as the API's (openrooms/api/tests/test_bad_input.py): days at the edge of the
calendar, NUL and control characters, numbers beyond what both engines hold alike."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse

from openrooms.bookings.models import Booking
from openrooms.spaces.models import Floor, Office
from openrooms.spaces.office_time import today_in


def no_error_page(client: Client, url: str, **params: str) -> str:
    client.raise_request_exception = False
    response = client.get(url, params, follow=True)
    assert response.status_code == 200, (url, params, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-01", "9999-12-30", "0001-01-02"])
def test_the_day_view_at_the_edge_of_the_calendar_answers(member_client, office, room, date):
    page = no_error_page(member_client, "/", office=str(office.pk), date=date)
    if date in {"9999-12-31", "0001-01-01"}:  # not a day the product holds: today instead
        assert today_in(office).strftime("%d %B %Y").lstrip("0") in page or "Today" in page


def test_the_plan_status_refuses_a_day_beyond_the_calendar_as_json(member_client, floor, room):
    url = reverse("plan_status", args=[floor.pk])
    member_client.raise_request_exception = False
    for date in ("9999-12-31", "0001-01-01"):
        response = member_client.get(url, {"date": date, "start": "09:00", "end": "10:00"})
        assert response.status_code == 422, response.content
        assert "date" in response.json()["error"]["fields"]
    last_day = member_client.get(url, {"date": "9999-12-30", "start": "00:00", "end": "23:59"})
    assert last_day.status_code == 200, last_day.content


def test_the_space_row_at_the_edge_of_the_calendar_answers(member_client, room):
    for date in ("9999-12-31", "9999-12-30", "0001-01-01"):
        no_error_page(member_client, reverse("space_row", args=[room.pk]), date=date)


def book_form(client: Client, room, **fields: str):
    client.raise_request_exception = False
    tomorrow = today_in(room.office) + dt.timedelta(days=1)
    body = {"date": tomorrow.isoformat(), "start": "09:00", "end": "10:00", "title": "Sync"}
    return client.post(reverse("book", args=[room.pk]), {**body, **fields})


@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-01"])
def test_the_booking_form_gives_a_field_error_for_a_day_beyond_the_calendar(
    member_client, room, date
):
    response = book_form(member_client, room, date=date)
    assert response.status_code == 422
    assert "Use a date from 0001-01-02 to 9999-12-30." in response.content.decode()
    assert not Booking.objects.exists()


def test_the_booking_form_refuses_the_last_day_by_its_rule_not_a_crash(member_client, room):
    response = book_form(member_client, room, date="9999-12-30")
    assert response.status_code == 422
    assert "ahead" in response.content.decode()
    assert not Booking.objects.exists()


@pytest.mark.parametrize("title", ["Stand\x00up", "bell\x07"])
def test_the_booking_form_refuses_control_characters_in_the_title(member_client, room, title):
    response = book_form(member_client, room, title=title)
    page = response.content.decode()
    assert "Control characters" in page or "Null characters are not allowed" in page
    assert not Booking.objects.exists()


def test_the_plan_refuses_control_characters_anywhere_in_its_json(member_client, floor, room):
    member_client.raise_request_exception = False
    tomorrow = (today_in(floor.office) + dt.timedelta(days=1)).isoformat()
    body = {"space": room.pk, "date": tomorrow, "start": "09:00", "end": "10:00",
            "title": "Stand\x00up"}
    response = member_client.post(
        reverse("plan_book", args=[floor.pk]), json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 422, response.content
    assert response.json()["error"]["fields"] == {"title": response.json()["error"]["message"]}
    assert not Booking.objects.exists()


def test_settings_forms_refuse_control_characters_with_a_field_error(admin_client, office):
    admin_client.raise_request_exception = False
    response = admin_client.post(
        "/settings/offices/new/",
        {"name": "Par\x01is", "address": "1 rue\x00", "timezone": "Europe/Paris"},
    )
    assert response.status_code == 400
    assert response.content.decode().count("Control characters") + response.content.decode(
    ).count("Null characters") >= 2
    assert not Office.objects.filter(name__startswith="Par").exists()


def test_a_floor_order_beyond_the_cap_is_a_field_error_on_both_engines(admin_client, office):
    admin_client.raise_request_exception = False
    response = admin_client.post(
        reverse("settings_floors", args=[office.pk]), {"name": "Roof", "order": "3000000000"}
    )
    assert response.status_code == 400, response.status_code
    assert "less than or equal to 1000" in response.content.decode()
    assert not Floor.objects.filter(name="Roof").exists()


def test_booking_rules_beyond_the_caps_are_field_errors(admin_client, organisation):
    admin_client.raise_request_exception = False
    response = admin_client.post(
        reverse("settings_booking_rules"),
        {"max_booking_minutes": "720", "max_days_ahead": "99999999999"},
    )
    assert response.status_code == 400
    assert "less than or equal to" in response.content.decode()
    organisation.refresh_from_db()
    assert organisation.max_days_ahead == 90
