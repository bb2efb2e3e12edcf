"""Member pages over HTTP: the day view, booking and cancelling (with htmx too), My bookings."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import zoneinfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from openrooms.accounts.services import do_create_account
from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book
from openrooms.conftest import PASSWORD
from openrooms.spaces.models import Space
from openrooms.spaces.services import do_create_office, do_create_space

LONDON = zoneinfo.ZoneInfo("Europe/London")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
HTMX = {"HX-Request": "true"}


def tomorrow(zone: zoneinfo.ZoneInfo = LONDON) -> dt.date:
    return timezone.now().astimezone(zone).date() + dt.timedelta(days=1)


def at(hour: int, minute: int = 0, zone: zoneinfo.ZoneInfo = LONDON) -> dt.datetime:
    return dt.datetime.combine(tomorrow(zone), dt.time(hour, minute), tzinfo=zone)


def busy_of(page: str) -> dict[int, list[dict]]:
    """Each row's busy intervals, as the page gives them to static/js/day.js to draw."""
    return {
        int(space_id): json.loads(html.unescape(busy))
        for space_id, busy in re.findall(r'id="space-(\d+)" data-busy=\'([^\']*)\'', page)
    }


def utc(instant: dt.datetime) -> str:
    return f"{instant.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"


def booking_form(**fields: str) -> dict[str, str]:
    return {"date": tomorrow().isoformat(), "start": "09:00", "end": "10:00", **fields}


def test_the_day_view_lists_rooms_and_desks_of_the_office(member_client, office, room, desk):
    response = member_client.get(f"/?office={office.pk}&date={tomorrow().isoformat()}")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Boardroom" in page and "Desk 1" in page
    assert 'id="rooms-heading"' in page and 'id="desks-heading"' in page
    assert busy_of(page) == {room.pk: [], desk.pk: []}


def test_busy_blocks_are_shown_in_the_offices_time_zone(organisation, admin, member, member_client):
    office = do_create_office(organisation, name="New York", timezone="America/New_York")
    room = do_create_space(office, kind=Space.Kind.ROOM, name="Hudson")
    do_book(room, booker=admin, start=at(9, zone=NEW_YORK), end=at(10, 30, zone=NEW_YORK))

    response = member_client.get(f"/?office={office.pk}&date={tomorrow(NEW_YORK).isoformat()}")

    page = response.content.decode()
    assert 'data-timezone="America/New_York"' in page
    # The timeline starts at 07:00 in New York; the script draws the times in its zone.
    assert f'data-first="{utc(at(7, zone=NEW_YORK))}"' in page
    [busy] = busy_of(page)[room.pk]
    assert busy["start"] == utc(at(9, zone=NEW_YORK))
    assert busy["end"] == utc(at(10, 30, zone=NEW_YORK))
    assert (busy["mine"], busy["who"]) == (False, admin.name or admin.email.split("@")[0])


def test_own_bookings_are_marked_as_mine(member, member_client, office, room):
    do_book(room, booker=member, start=at(14), end=at(15))
    page = member_client.get(f"/?office={office.pk}&date={tomorrow().isoformat()}").content.decode()
    [busy] = busy_of(page)[room.pk]
    assert busy["mine"] is True and busy["booking"] == Booking.objects.get().pk
    assert 'data-cancel-url="/bookings/{id}/cancel/"' in page


def test_the_day_view_filters_by_kind(member_client, office, room, desk):
    page = member_client.get(f"/?office={office.pk}&kind=desk").content.decode()
    assert "Desk 1" in page and "Boardroom" not in page


def test_the_day_view_remembers_the_chosen_office(organisation, member_client, office, room):
    other = do_create_office(organisation, name="Another office", timezone="Europe/Paris")
    do_create_space(other, kind=Space.Kind.ROOM, name="Salon")
    member_client.get(f"/?office={other.pk}")
    page = member_client.get("/").content.decode()
    assert "Salon" in page and "Boardroom" not in page


def test_the_day_view_asks_the_database_the_same_number_of_times_for_any_number_of_spaces(
    member_client, office, room
):
    url = f"/?office={office.pk}&date={tomorrow().isoformat()}"
    member_client.get(url)
    with CaptureQueriesContext(connection) as few:
        member_client.get(url)
    for n in range(20):
        do_create_space(office, kind=Space.Kind.DESK, name=f"Extra desk {n}")
    with CaptureQueriesContext(connection) as many:
        member_client.get(url)
    assert len(many.captured_queries) == len(few.captured_queries)


def test_an_office_of_another_organisation_is_404(member_client, other_organisation):
    theirs = do_create_office(other_organisation, name="Globex HQ", timezone="UTC")
    assert member_client.get(f"/?office={theirs.pk}").status_code == 404


def test_a_member_without_offices_is_told_so(member_client):
    assert "No office yet" in member_client.get("/").content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client: Client, office):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_booking_form_suggests_the_clicked_slot(member_client, room):
    response = member_client.get(
        f"/bookings/book/{room.pk}/?date={tomorrow().isoformat()}&start=11:15", headers=HTMX
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="11:15"' in page and 'value="12:15"' in page
    assert f'id="space-{room.pk}"' in page


def test_member_books_a_free_room_slot(member, member_client, office, room):
    response = member_client.post(f"/bookings/book/{room.pk}/", booking_form(title="Planning"))

    assert response.status_code == 302
    booking = Booking.objects.get()
    assert (booking.space, booking.booker, booking.title) == (room, member, "Planning")
    assert booking.start == at(9) and booking.end == at(10)
    assert booking.start.astimezone(dt.UTC) == at(9).astimezone(dt.UTC)
    page = member_client.get(response["Location"]).content.decode()
    assert "Boardroom is booked for you" in page


def test_booking_with_htmx_refreshes_the_row(member_client, room):
    response = member_client.post(f"/bookings/book/{room.pk}/", booking_form(), headers=HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert page.lstrip().startswith(f'<li class="space-row" id="space-{room.pk}"')
    [busy] = busy_of(page)[room.pk]
    assert (busy["start"], busy["end"], busy["mine"]) == (utc(at(9)), utc(at(10)), True)
    assert "Boardroom is booked for you" in page and "from 09:00 to 10:00" in page


def test_member_books_a_desk_without_a_title(member_client, desk):
    response = member_client.post(f"/bookings/book/{desk.pk}/", booking_form(end="17:00"))
    assert response.status_code == 302
    assert Booking.objects.get().space == desk


def test_a_conflicting_booking_names_the_clash_and_keeps_the_input(admin, member_client, room):
    do_book(room, booker=admin, start=at(9), end=at(10))

    response = member_client.post(
        f"/bookings/book/{room.pk}/", booking_form(start="09:30", end="11:00", title="Retro")
    )

    assert response.status_code == 422
    page = response.content.decode()
    assert "Boardroom is already booked from" in page
    assert f"{tomorrow().isoformat()} 09:00 to 10:00" in page
    assert 'value="09:30"' in page and 'value="11:00"' in page and 'value="Retro"' in page
    assert Booking.objects.count() == 1


def test_a_conflict_in_the_inline_form_is_shown_in_the_row(admin, member_client, room):
    do_book(room, booker=admin, start=at(9), end=at(10))
    response = member_client.post(
        f"/bookings/book/{room.pk}/", booking_form(start="09:45", end="10:15"), headers=HTMX
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "already booked from" in page and 'value="09:45"' in page


def test_an_end_before_the_start_is_an_error_next_to_the_end(member_client, room):
    response = member_client.post(
        f"/bookings/book/{room.pk}/", booking_form(start="11:00", end="10:00")
    )
    assert response.status_code == 422
    page = response.content.decode()
    error = page.index("The booking must end after it starts.")
    assert page.rindex('for="id_end"', 0, error) > page.rindex('for="id_start"', 0, error)
    assert not Booking.objects.exists()


def test_unreadable_times_are_field_errors(member_client, room):
    response = member_client.post(f"/bookings/book/{room.pk}/", booking_form(start="nine"))
    assert response.status_code == 422
    assert "Enter a valid time." in response.content.decode()


def test_a_space_of_another_organisation_cannot_be_booked(member_client, other_organisation):
    office = do_create_office(other_organisation, name="Globex HQ", timezone="UTC")
    theirs = do_create_space(office, kind=Space.Kind.ROOM, name="Theirs")
    assert member_client.get(f"/bookings/book/{theirs.pk}/").status_code == 404
    assert member_client.post(f"/bookings/book/{theirs.pk}/", booking_form()).status_code == 404
    assert not Booking.objects.exists()


def test_my_bookings_lists_upcoming_bookings_in_the_offices_zone(
    organisation, member, member_client
):
    office = do_create_office(organisation, name="New York", timezone="America/New_York")
    room = do_create_space(office, kind=Space.Kind.ROOM, name="Hudson")
    do_book(room, booker=member, start=at(9, zone=NEW_YORK), end=at(10, zone=NEW_YORK))
    page = member_client.get("/bookings/").content.decode()
    assert "Hudson" in page and "09:00–10:00" in page and "America/New_York" in page


def test_member_cancels_a_booking(member, member_client, room):
    booking = do_book(room, booker=member, start=at(9), end=at(10))
    assert member_client.get(f"/bookings/{booking.pk}/cancel/").status_code == 200

    response = member_client.post(f"/bookings/{booking.pk}/cancel/")

    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    page = member_client.get("/bookings/").content.decode()
    assert "is cancelled" in page and "Cancelled" in page


def test_cancelling_with_htmx_returns_the_cancelled_item(member, member_client, room):
    booking = do_book(room, booker=member, start=at(9), end=at(10))
    response = member_client.post(f"/bookings/{booking.pk}/cancel/", headers=HTMX)
    assert response.status_code == 200
    assert 'class="booking-item cancelled"' in response.content.decode()


def test_cancelling_from_the_day_view_refreshes_the_row(member, member_client, room):
    booking = do_book(room, booker=member, start=at(9), end=at(10))
    response = member_client.post(
        f"/bookings/{booking.pk}/cancel/", {"day": tomorrow().isoformat()}, headers=HTMX
    )
    assert f'id="space-{room.pk}"' in response.content.decode()
    assert busy_of(response.content.decode()) == {room.pk: []}


def test_a_member_cannot_cancel_someone_elses_booking(organisation, member_client, room):
    colleague = do_create_account(organisation, email="colleague@acme.test", password=PASSWORD)
    booking = do_book(room, booker=colleague, start=at(9), end=at(10))
    page = member_client.get(f"/bookings/{booking.pk}/cancel/").content.decode()
    assert "Cancel the booking</button>" not in page and "Only the person who booked" in page
    assert member_client.post(f"/bookings/{booking.pk}/cancel/").status_code == 403
    booking.refresh_from_db()
    assert booking.is_active


def test_a_booking_of_another_organisation_is_404(member_client, outsider, other_organisation):
    office = do_create_office(other_organisation, name="Globex HQ", timezone="UTC")
    theirs = do_create_space(office, kind=Space.Kind.ROOM, name="Theirs")
    booking = do_book(
        theirs,
        booker=outsider,
        start=timezone.now() + dt.timedelta(days=1),
        end=timezone.now() + dt.timedelta(days=1, hours=1),
    )
    assert member_client.get(f"/bookings/{booking.pk}/cancel/").status_code == 404
    assert member_client.post(f"/bookings/{booking.pk}/cancel/").status_code == 404


@pytest.mark.parametrize("url", ["/", "/bookings/"])
def test_member_pages_render_for_admins_too(admin_client, office, room, url):
    assert admin_client.get(url).status_code == 200


def test_a_large_office_is_shown_a_page_of_spaces_at_a_time_rooms_first(
    member_client, office, room, monkeypatch
):
    monkeypatch.setattr("openrooms.bookings.views.SPACES_PER_PAGE", 3)
    for n in range(4):
        do_create_space(office, kind=Space.Kind.DESK, name=f"Desk {n}")

    first = member_client.get(f"/?office={office.pk}").content.decode()
    second = member_client.get(f"/?office={office.pk}&page=2").content.decode()

    assert first.count('<li class="space-row') == 3 and second.count('<li class="space-row') == 2
    assert "Boardroom" in first and "Spaces 1–3 of 5" in first
    assert "Desk 3" in second and "Spaces 4–5 of 5" in second


def test_a_get_that_changes_nothing_writes_no_session(member_client, office, room):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    member_client.get(f"/?office={office.pk}")  # chooses the office: remembered once
    for url in (f"/?office={office.pk}", "/"):
        with CaptureQueriesContext(connection) as queries:
            assert member_client.get(url).status_code == 200
        writes = [q["sql"] for q in queries.captured_queries
                  if "django_session" in q["sql"] and not q["sql"].lstrip().startswith("SELECT")]
        assert writes == [], url


def test_a_subject_with_quotes_and_markup_reaches_the_page_as_text(
    organisation, member, member_client, office, room
):
    organisation.show_meeting_subjects = True
    organisation.save()
    do_book(room, booker=member, start=at(9), end=at(10), title="Bob's <b>review</b> & \"plan\"")
    page = member_client.get(f"/?office={office.pk}&date={tomorrow().isoformat()}").content.decode()
    assert "<b>review" not in page
    [busy] = busy_of(page)[room.pk]
    assert busy["title"] == "Bob's <b>review</b> & \"plan\""
