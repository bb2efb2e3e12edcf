"""The bookings API over HTTP: book, move, cancel and list, availability, tokens, subjects."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.test import Client
from django.utils import timezone

from openrooms.accounts.services import do_create_api_token, do_revoke_api_token
from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book

LONDON = zoneinfo.ZoneInfo("Europe/London")


def api_client(account) -> Client:
    _, token = do_create_api_token(account)
    return Client(headers={"authorization": f"Bearer {token}"})


def tomorrow_at(hour: int, minute: int = 0) -> dt.datetime:
    day = timezone.now().astimezone(LONDON).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON)


def post_booking(client: Client, space, start: dt.datetime, end: dt.datetime, **extra):
    body = {"space": space.pk, "start": start.isoformat(), "end": end.isoformat(), **extra}
    return client.post("/api/v1/bookings", body, content_type="application/json")


@pytest.fixture
def client_of_member(member) -> Client:
    return api_client(member)


def test_a_member_books_a_room_and_gets_it_back(client_of_member, room, member):
    response = post_booking(client_of_member, room, tomorrow_at(9), tomorrow_at(10), title="Sync")
    assert response.status_code == 201, response.content
    booking = response.json()
    assert booking["space"] == room.pk
    assert booking["booker"] == member.pk
    assert booking["status"] == "confirmed"
    assert booking["source"] == "app"
    assert dt.datetime.fromisoformat(booking["start"]) == tomorrow_at(9)

    mine = client_of_member.get("/api/v1/bookings?mine=1").json()
    assert [b["id"] for b in mine] == [booking["id"]]


def test_an_overlapping_booking_is_409_naming_the_conflicting_range(client_of_member, room):
    assert post_booking(client_of_member, room, tomorrow_at(9), tomorrow_at(10)).status_code == 201
    response = post_booking(client_of_member, room, tomorrow_at(9, 30), tomorrow_at(11))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert "09:00" in error["message"] and "10:00" in error["message"]
    assert dt.datetime.fromisoformat(error["conflict"]["start"]) == tomorrow_at(9)
    assert dt.datetime.fromisoformat(error["conflict"]["end"]) == tomorrow_at(10)


def test_back_to_back_bookings_do_not_conflict(client_of_member, room):
    assert post_booking(client_of_member, room, tomorrow_at(9), tomorrow_at(10)).status_code == 201
    assert post_booking(client_of_member, room, tomorrow_at(10), tomorrow_at(11)).status_code == 201


def test_a_cancelled_booking_frees_its_slot(client_of_member, room):
    first = post_booking(client_of_member, room, tomorrow_at(9), tomorrow_at(10)).json()
    assert client_of_member.delete(f"/api/v1/bookings/{first['id']}").status_code == 204
    assert Booking.objects.get(pk=first["id"]).status == Booking.Status.CANCELLED
    assert post_booking(client_of_member, room, tomorrow_at(9), tomorrow_at(10)).status_code == 201


@pytest.mark.parametrize(
    ("start", "end", "field", "words"),
    [
        (lambda: tomorrow_at(10), lambda: tomorrow_at(9), "end", "end after it starts"),
        (lambda: timezone.now() - dt.timedelta(hours=2), lambda: timezone.now(), "start", "past"),
        (lambda: tomorrow_at(6), lambda: tomorrow_at(19, 30), "end", "at most 12 hours"),
        (
            lambda: timezone.now() + dt.timedelta(days=200),
            lambda: timezone.now() + dt.timedelta(days=200, hours=1),
            "start",
            "90 days ahead",
        ),
    ],
)
def test_bookings_that_break_a_rule_are_422_with_the_reason(
    client_of_member, room, start, end, field, words
):
    response = post_booking(client_of_member, room, start(), end())
    assert response.status_code == 422
    error = response.json()["error"]
    assert words in error["message"]
    assert field in error["fields"]
    assert not Booking.objects.exists()


def test_malformed_input_is_422_naming_the_field(client_of_member, room):
    response = client_of_member.post(
        "/api/v1/bookings",
        {"space": room.pk, "start": "tomorrow morning", "end": tomorrow_at(10).isoformat()},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "start" in response.json()["error"]["fields"]


def test_a_booking_without_a_time_zone_offset_is_refused(client_of_member, room):
    response = client_of_member.post(
        "/api/v1/bookings",
        {"space": room.pk, "start": "2030-01-01T09:00:00", "end": "2030-01-01T10:00:00"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "offset" in response.json()["error"]["message"]


def test_no_token_or_a_bad_or_revoked_token_is_401(member, room):
    assert Client().get("/api/v1/offices").status_code == 401
    bad = Client(headers={"authorization": "Bearer ort_nope"}).get("/api/v1/offices")
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "unauthenticated"
    row, token = do_create_api_token(member)
    do_revoke_api_token(row)
    revoked = Client(headers={"authorization": f"Bearer {token}"}).get("/api/v1/offices")
    assert revoked.status_code == 401


def test_a_member_cannot_cancel_someone_elses_booking_but_an_admin_can(
    client_of_member, admin, room
):
    booking = do_book(room, booker=admin, start=tomorrow_at(9), end=tomorrow_at(10))
    response = client_of_member.delete(f"/api/v1/bookings/{booking.pk}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert api_client(admin).delete(f"/api/v1/bookings/{booking.pk}").status_code == 204


def test_moving_a_booking_checks_conflicts(client_of_member, member, room):
    do_book(room, booker=member, start=tomorrow_at(11), end=tomorrow_at(12))
    booking = do_book(room, booker=member, start=tomorrow_at(9), end=tomorrow_at(10))
    clash = client_of_member.patch(
        f"/api/v1/bookings/{booking.pk}",
        {"start": tomorrow_at(11, 30).isoformat(), "end": tomorrow_at(12, 30).isoformat()},
        content_type="application/json",
    )
    assert clash.status_code == 409
    moved = client_of_member.patch(
        f"/api/v1/bookings/{booking.pk}",
        {"start": tomorrow_at(13).isoformat(), "end": tomorrow_at(14).isoformat()},
        content_type="application/json",
    )
    assert moved.status_code == 200
    booking.refresh_from_db()
    assert booking.start == tomorrow_at(13)


def test_availability_lists_every_matching_space_with_its_busy_intervals(
    client_of_member, member, admin, office, room, desk
):
    mine = do_book(room, booker=member, start=tomorrow_at(9), end=tomorrow_at(10), title="Mine")
    do_book(desk, booker=admin, start=tomorrow_at(8), end=tomorrow_at(17))
    day = tomorrow_at(0).date().isoformat()

    rooms = client_of_member.get(f"/api/v1/availability?office={office.pk}&date={day}&kind=room")
    assert rooms.status_code == 200
    body = rooms.json()
    assert body["timezone"] == "Europe/London"
    assert [s["id"] for s in body["spaces"]] == [room.pk]
    [busy] = body["spaces"][0]["busy"]
    assert busy["booking"] == mine.pk and busy["mine"] is True

    everything = client_of_member.get(f"/api/v1/availability?office={office.pk}&date={day}")
    by_id = {s["id"]: s for s in everything.json()["spaces"]}
    assert set(by_id) == {room.pk, desk.pk}
    assert by_id[desk.pk]["busy"][0]["mine"] is False


def test_the_availability_answer_written_from_the_rows_is_the_documented_schema(
    client_of_member, member, organisation, office, room
):
    from openrooms.bookings.api import AvailabilityOut

    organisation.show_meeting_subjects = True
    organisation.save()
    room.name = 'Salle "Étoile" \\ 7'
    room.save()
    do_book(room, booker=member, start=tomorrow_at(9), end=tomorrow_at(10), title='Q4 "plan" ✓')
    day = tomorrow_at(0).date().isoformat()
    response = client_of_member.get(f"/api/v1/availability?office={office.pk}&date={day}")
    answer = AvailabilityOut.model_validate(response.json())
    [space] = answer.spaces
    assert (space.name, space.busy[0].title) == ('Salle "Étoile" \\ 7', 'Q4 "plan" ✓')
    assert space.busy[0].start == tomorrow_at(9) and space.busy[0].mine


def test_availability_query_count_does_not_grow_with_the_number_of_spaces(
    client_of_member, member, office, django_assert_num_queries
):
    from openrooms.spaces.models import Space
    from openrooms.spaces.services import do_create_space

    spaces = [do_create_space(office, kind=Space.Kind.ROOM, name=f"Room {n}") for n in range(30)]
    for n, space in enumerate(spaces):
        do_book(space, booker=member, start=tomorrow_at(8 + n % 8), end=tomorrow_at(9 + n % 8))
    day = tomorrow_at(0).date().isoformat()
    client_of_member.get("/api/v1/offices")  # the token's first use records last_used_at
    # token lookup, office, the answer
    with django_assert_num_queries(3):
        response = client_of_member.get(f"/api/v1/availability?office={office.pk}&date={day}")
    assert len(response.json()["spaces"]) == 30


def test_availability_uses_the_offices_day_not_utcs(client_of_member, member, office, room):
    # 23:30 London time in winter is 23:30 UTC; in summer it is 22:30 UTC the same day.
    late = do_book(room, booker=member, start=tomorrow_at(23), end=tomorrow_at(23, 45))
    day = tomorrow_at(0).date().isoformat()
    body = client_of_member.get(f"/api/v1/availability?office={office.pk}&date={day}").json()
    assert [b["booking"] for b in body["spaces"][0]["busy"]] == [late.pk]
    next_day = (tomorrow_at(0).date() + dt.timedelta(days=1)).isoformat()
    body = client_of_member.get(f"/api/v1/availability?office={office.pk}&date={next_day}").json()
    assert body["spaces"][0]["busy"] == []


def test_availability_lists_a_spaces_intervals_in_order_and_hides_private_subjects(
    client_of_member, member, organisation, office, room
):
    organisation.show_meeting_subjects = True
    organisation.save()
    late = do_book(room, booker=member, start=tomorrow_at(15), end=tomorrow_at(16), title="Late")
    early = do_book(room, booker=member, start=tomorrow_at(8), end=tomorrow_at(9), title="Early")
    private = do_book(room, booker=member, start=tomorrow_at(11), end=tomorrow_at(12),
                      title="Secret")
    Booking.objects.filter(pk=private.pk).update(is_private=True)
    day = tomorrow_at(0).date().isoformat()
    body = client_of_member.get(f"/api/v1/availability?office={office.pk}&date={day}").json()
    busy = body["spaces"][0]["busy"]
    assert [b["booking"] for b in busy] == [early.pk, private.pk, late.pk]
    assert [b["title"] for b in busy] == ["Early", "", "Late"]
    assert busy[0]["start"] == tomorrow_at(8).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    organisation.show_meeting_subjects = False
    organisation.save()
    body = client_of_member.get(f"/api/v1/availability?office={office.pk}&date={day}").json()
    assert {b["title"] for b in body["spaces"][0]["busy"]} == {""}


def test_a_booking_starting_at_midnight_is_on_its_own_day_only(client_of_member, member, office,
                                                               room):
    midnight = tomorrow_at(0) + dt.timedelta(days=1)
    booking = do_book(room, booker=member, start=midnight, end=midnight + dt.timedelta(hours=1))
    day_before = tomorrow_at(0).date().isoformat()
    body = client_of_member.get(f"/api/v1/availability?office={office.pk}&date={day_before}")
    assert body.json()["spaces"][0]["busy"] == []
    own_day = midnight.date().isoformat()
    body = client_of_member.get(f"/api/v1/availability?office={office.pk}&date={own_day}")
    assert [b["booking"] for b in body.json()["spaces"][0]["busy"]] == [booking.pk]


def test_the_bookings_api_shows_others_subjects_only_as_the_organisation_allows(
    client_of_member, admin, organisation, room
):
    secret = do_book(room, booker=admin, start=tomorrow_at(9), end=tomorrow_at(10),
                     title="Layoffs planning")
    open_one = do_book(room, booker=admin, start=tomorrow_at(11), end=tomorrow_at(12),
                       title="Town hall")
    Booking.objects.filter(pk=secret.pk).update(is_private=True)

    def titles() -> dict[int, str]:
        listed = client_of_member.get("/api/v1/bookings").json()
        single = client_of_member.get(f"/api/v1/bookings/{secret.pk}").json()
        assert single["title"] == next(b["title"] for b in listed if b["id"] == secret.pk)
        return {b["id"]: b["title"] for b in listed}

    assert titles() == {secret.pk: "", open_one.pk: ""}
    organisation.show_meeting_subjects = True
    organisation.save()
    assert titles() == {secret.pk: "", open_one.pk: "Town hall"}
    assert api_client(admin).get(f"/api/v1/bookings/{secret.pk}").json()["title"] == (
        "Layoffs planning"
    )
