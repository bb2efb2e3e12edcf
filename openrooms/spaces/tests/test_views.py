"""The admin settings area over HTTP: CRUD of offices, floors, desks and rooms, and who may."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from openrooms.bookings.services import do_book
from openrooms.spaces.models import Floor, Office, Space
from openrooms.spaces.services import do_create_floor, do_create_office, do_create_space


def settings_pages(office: Office, floor: Floor, desk: Space, room: Space) -> list[str]:
    """Every page of the settings area this app serves (the plan editor tests its own)."""
    return [
        "/settings/",
        "/settings/offices/",
        "/settings/offices/new/",
        f"/settings/offices/{office.pk}/",
        f"/settings/offices/{office.pk}/delete/",
        f"/settings/offices/{office.pk}/floors/",
        f"/settings/offices/{office.pk}/desks/",
        f"/settings/offices/{office.pk}/rooms/",
        f"/settings/floors/{floor.pk}/",
        f"/settings/floors/{floor.pk}/delete/",
        f"/settings/spaces/{desk.pk}/",
        f"/settings/spaces/{room.pk}/delete/",
        "/settings/meeting-rooms/",
        "/settings/integrations/",
        "/settings/members/",
    ]


def test_every_settings_page_opens_for_an_admin(admin_client, office, floor, desk, room):
    for url in settings_pages(office, floor, desk, room):
        response = admin_client.get(url, follow=True)
        assert response.status_code == 200, url


def test_a_member_gets_403_on_every_settings_page_and_action(
    member_client, office, floor, desk, room
):
    for url in settings_pages(office, floor, desk, room):
        assert member_client.get(url).status_code == 403, url
        assert member_client.post(url, {"name": "Taken over"}).status_code == 403, url
    for url in [
        "/settings/members/invite/",
        "/settings/booking-rules/",
    ]:
        assert member_client.post(url, {}).status_code == 403, url
    assert Office.objects.get().name == "London HQ"
    assert Space.objects.filter(pk=room.pk).exists()


def test_anonymous_visitors_are_sent_to_sign_in(client: Client, office, floor, desk, room):
    for url in settings_pages(office, floor, desk, room):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


@pytest.mark.parametrize("who", ["admin_client", "member_client"])
def test_objects_of_another_organisation_are_404_for_admins_and_members(
    request: pytest.FixtureRequest, who: str, other_organisation
):
    client = request.getfixturevalue(who)
    office = do_create_office(other_organisation, name="Globex HQ", timezone="UTC")
    floor = do_create_floor(office, name="Basement")
    space = do_create_space(office, kind=Space.Kind.ROOM, name="Vault", floor=floor)
    urls = [
        f"/settings/offices/{office.pk}/",
        f"/settings/offices/{office.pk}/delete/",
        f"/settings/offices/{office.pk}/floors/",
        f"/settings/offices/{office.pk}/desks/",
        f"/settings/offices/{office.pk}/rooms/",
        f"/settings/floors/{floor.pk}/",
        f"/settings/floors/{floor.pk}/delete/",
        f"/settings/spaces/{space.pk}/",
        f"/settings/spaces/{space.pk}/delete/",
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"name": "Mine now"}).status_code == 404, url
    assert Office.objects.filter(pk=office.pk, name="Globex HQ").exists()
    assert Space.objects.filter(pk=space.pk, name="Vault").exists()


def test_admin_creates_an_office(admin_client, organisation):
    response = admin_client.post(
        "/settings/offices/new/",
        {"name": "Paris", "address": "1 rue de la Paix", "timezone": "Europe/Paris"},
    )
    office = Office.objects.get(name="Paris")
    assert response.status_code == 302
    assert response["Location"] == f"/settings/offices/{office.pk}/"
    assert (office.organisation, office.timezone) == (organisation, "Europe/Paris")
    assert "Paris" in admin_client.get("/settings/offices/").content.decode()


def test_the_new_office_form_offers_zoneinfo_names(admin_client, organisation):
    page = admin_client.get("/settings/offices/new/").content.decode()
    assert '<option value="America/New_York">' in page
    assert '<option value="Europe/London" selected>' in page  # the organisation's zone


def test_an_office_with_an_unknown_time_zone_is_refused_keeping_the_input(admin_client):
    response = admin_client.post(
        "/settings/offices/new/", {"name": "Atlantis", "address": "Deep", "timezone": "Sea/Deep"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Select a valid choice" in page
    assert 'value="Atlantis"' in page and "Deep</textarea>" in page
    assert not Office.objects.filter(name="Atlantis").exists()


def test_a_second_office_of_the_same_name_is_refused(admin_client, office):
    response = admin_client.post(
        "/settings/offices/new/", {"name": "London HQ", "timezone": "Europe/London"}
    )
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert Office.objects.count() == 1


def test_admin_edits_an_office(admin_client, office):
    response = admin_client.post(
        f"/settings/offices/{office.pk}/",
        {"name": "London Bridge", "address": "2 New Street", "timezone": "Europe/Dublin"},
    )
    assert response.status_code == 302
    office.refresh_from_db()
    assert (office.name, office.address, office.timezone) == (
        "London Bridge",
        "2 New Street",
        "Europe/Dublin",
    )


def test_a_blank_office_name_shows_an_error_and_keeps_the_saved_title(admin_client, office):
    response = admin_client.post(
        f"/settings/offices/{office.pk}/", {"name": "", "address": "Kept", "timezone": "UTC"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "This field is required." in page
    assert "<h1>London HQ</h1>" in page and "Kept</textarea>" in page
    office.refresh_from_db()
    assert office.address == "1 Example Street"


def test_admin_deletes_an_office_after_confirming(admin_client, office):
    assert (
        "Delete “London HQ”?"
        in admin_client.get(f"/settings/offices/{office.pk}/delete/").content.decode()
    )
    response = admin_client.post(f"/settings/offices/{office.pk}/delete/")
    assert response.status_code == 302
    assert not Office.objects.exists()


def test_admin_adds_edits_and_deletes_a_floor(admin_client, office):
    response = admin_client.post(
        f"/settings/offices/{office.pk}/floors/", {"name": "First floor", "order": "1"}
    )
    assert response.status_code == 302
    floor = Floor.objects.get(office=office)
    assert (floor.name, floor.order) == ("First floor", 1)

    admin_client.post(f"/settings/floors/{floor.pk}/", {"name": "Mezzanine", "order": "2"})
    floor.refresh_from_db()
    assert (floor.name, floor.order) == ("Mezzanine", 2)

    admin_client.post(f"/settings/floors/{floor.pk}/delete/")
    assert not Floor.objects.exists()


def test_a_duplicate_floor_name_is_an_error(admin_client, office, floor):
    response = admin_client.post(
        f"/settings/offices/{office.pk}/floors/", {"name": "Ground floor", "order": "x"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a whole number." in page and 'value="Ground floor"' in page


def test_admin_adds_a_room_with_amenities(admin_client, office, floor):
    response = admin_client.post(
        f"/settings/offices/{office.pk}/rooms/",
        {
            "name": "Studio",
            "capacity": "6",
            "amenities": "screen, video ,, screen",
            "floor": str(floor.pk),
            "bookable": "on",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/settings/offices/{office.pk}/rooms/"
    room = Space.objects.get(name="Studio")
    assert (room.kind, room.capacity, room.amenities, room.floor, room.bookable) == (
        Space.Kind.ROOM,
        6,
        ["screen", "video"],
        floor,
        True,
    )
    page = admin_client.get(f"/settings/offices/{office.pk}/rooms/").content.decode()
    assert "Studio" in page and "screen, video" in page


def test_admin_adds_a_desk_that_is_not_bookable(admin_client, office):
    admin_client.post(
        f"/settings/offices/{office.pk}/desks/", {"name": "Hot desk", "capacity": "1"}
    )
    desk = Space.objects.get(name="Hot desk")
    assert (desk.kind, desk.floor, desk.bookable) == (Space.Kind.DESK, None, False)


def test_admin_edits_and_deletes_a_room(admin_client, office, room):
    edit = admin_client.get(f"/settings/spaces/{room.pk}/").content.decode()
    assert 'value="screen, video"' in edit

    admin_client.post(
        f"/settings/spaces/{room.pk}/",
        {"name": "Big room", "capacity": "20", "amenities": "", "bookable": "on"},
    )
    room.refresh_from_db()
    assert (room.name, room.capacity, room.amenities, room.floor) == ("Big room", 20, [], None)

    response = admin_client.post(f"/settings/spaces/{room.pk}/delete/")
    assert response["Location"] == f"/settings/offices/{office.pk}/rooms/"
    assert not Space.objects.filter(pk=room.pk).exists()


def test_a_floor_of_another_office_cannot_be_chosen(admin_client, organisation, office):
    elsewhere = do_create_office(organisation, name="Paris", timezone="Europe/Paris")
    their_floor = do_create_floor(elsewhere, name="Rez-de-chaussée")
    response = admin_client.post(
        f"/settings/offices/{office.pk}/desks/",
        {"name": "Desk 9", "capacity": "1", "floor": str(their_floor.pk)},
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Space.objects.filter(name="Desk 9").exists()


def test_a_zero_capacity_is_refused_and_the_input_kept(admin_client, office):
    response = admin_client.post(
        f"/settings/offices/{office.pk}/rooms/",
        {"name": "Cupboard", "capacity": "0", "amenities": "mop, bucket"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "greater than or equal to 1" in page
    assert 'value="Cupboard"' in page and 'value="mop, bucket"' in page


def test_the_office_page_links_to_the_plan_editor_of_its_first_floor(admin_client, office, floor):
    page = admin_client.get(f"/settings/offices/{office.pk}/").content.decode()
    assert f'href="/settings/offices/{office.pk}/plan/{floor.pk}/">Edit office plan' in page


def test_meeting_rooms_lists_the_rooms_of_each_office(admin_client, office, room, desk):
    page = admin_client.get("/settings/meeting-rooms/").content.decode()
    assert "Manage Rooms (Microsoft 365 import)" in page
    assert "London HQ" in page and "Boardroom" in page and "Desk 1" not in page


def test_integrations_lists_office_365_as_not_connected(admin_client):
    page = admin_client.get("/settings/integrations/").content.decode()
    assert "Office 365" in page and "Not connected" in page


@pytest.mark.parametrize("url", ["/settings/offices/", "/settings/members/"])
def test_settings_pages_have_the_left_menu(admin_client, url):
    page = admin_client.get(url).content.decode()
    for item in ["Offices", "Meeting Rooms", "Apps &amp; Integrations", "Members"]:
        assert f">{item}</a>" in page


def test_a_space_or_office_with_bookings_ahead_is_not_deleted(admin_client, member, office, room):
    start = timezone.now() + dt.timedelta(days=1)
    do_book(room, booker=member, start=start, end=start + dt.timedelta(hours=1))
    for url in [f"/settings/spaces/{room.pk}/delete/", f"/settings/offices/{office.pk}/delete/"]:
        response = admin_client.post(url, follow=True)
        assert "has 1 booking ahead" in response.content.decode()
    assert Space.objects.filter(pk=room.pk).exists()
    assert Office.objects.filter(pk=office.pk).exists()
