"""Importing rooms from the tenant's Places directory, against the emulator."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book
from openrooms.integrations.microsoft365.graph.replies import Room
from openrooms.integrations.microsoft365.models import RoomLink
from openrooms.integrations.microsoft365.rooms import (
    do_import_rooms,
    do_unlink_room,
    find_room_by_mailbox,
    list_tenant_rooms,
)
from openrooms.integrations.microsoft365.tests.conftest import client_of
from openrooms.spaces.models import Space


@pytest.fixture
def client(full_app, graph_settings):
    return client_of(graph_settings, full_app)


def test_the_listing_follows_every_page_and_names_each_rooms_list(organisation, client):
    rooms = list_tenant_rooms(organisation, client)
    assert len(rooms) == 123  # two pages of Places
    by_mailbox = {r.room.email_address: r for r in rooms}
    seine = by_mailbox["paris-seine@contoso.onmicrosoft.com"]
    assert seine.room.capacity == 4 and seine.room.building == "Paris HQ"
    assert seine.room_list and seine.link is None
    assert "paris-newroom@contoso.onmicrosoft.com" not in by_mailbox  # not yet in Places


def test_importing_two_rooms_creates_linked_room_spaces(organisation, office, client):
    rooms = {r.room.email_address: r for r in list_tenant_rooms(organisation, client)}
    chosen = [rooms["paris-seine@contoso.onmicrosoft.com"].room,
              rooms["lyon-saone@contoso.onmicrosoft.com"].room]
    lists = {r.room.email_address: r.room_list for r in rooms.values()}
    links = do_import_rooms(organisation, office, chosen, room_lists=lists)

    assert [link.mailbox for link in links] == [room.email_address for room in chosen]
    seine = links[0].space
    assert seine.kind == Space.Kind.ROOM and seine.office == office
    assert seine.name == "Paris HQ Seine" and seine.capacity == 4
    assert "video" in seine.amenities and "wheelchair accessible" in seine.amenities
    assert links[0].building == "Paris HQ" and links[0].room_list
    relisted = {r.room.email_address: r for r in list_tenant_rooms(organisation, client)}
    assert relisted["paris-seine@contoso.onmicrosoft.com"].link == links[0]


def test_reimport_updates_the_linked_room_instead_of_adding_one(organisation, office, client):
    room = next(r.room for r in list_tenant_rooms(organisation, client)
                if r.room.email_address == "paris-seine@contoso.onmicrosoft.com")
    [first] = do_import_rooms(organisation, office, [room], room_lists={})
    bigger = room.model_copy(update={"capacity": 9})
    [again] = do_import_rooms(organisation, office, [bigger], room_lists={})
    assert again.pk == first.pk
    assert Space.objects.get(pk=first.space_id).capacity == 9
    assert RoomLink.objects.count() == 1


def test_an_import_is_all_or_nothing(organisation, office):
    good = Room(id="a", email_address="good@contoso.test", display_name="Good", capacity=4)
    bad = Room(id="b", email_address="bad@contoso.test", display_name="Bad", capacity=-1)
    with pytest.raises(ValidationError):
        do_import_rooms(organisation, office, [good, bad], room_lists={})
    assert not RoomLink.objects.exists()
    assert not Space.objects.filter(name="Good").exists()


def test_same_named_rooms_get_distinct_names(organisation, office):
    rooms = [Room(id=str(n), email_address=f"r{n}@contoso.test", display_name="Huddle")
             for n in range(3)]
    links = do_import_rooms(organisation, office, rooms, room_lists={})
    assert [link.space.name for link in links] == ["Huddle", "Huddle (2)", "Huddle (3)"]


def test_a_room_not_yet_in_places_is_added_by_its_mailbox(organisation, office, client):
    room = find_room_by_mailbox(client, "paris-newroom@contoso.onmicrosoft.com")
    [link] = do_import_rooms(organisation, office, [room], room_lists={})
    assert link.mailbox == "paris-newroom@contoso.onmicrosoft.com"
    assert link.space.name


def test_unlinking_keeps_the_space_and_its_bookings(organisation, office, member, client):
    room = Room(id="x", email_address="keep@contoso.test", display_name="Keep", capacity=2)
    [link] = do_import_rooms(organisation, office, [room], room_lists={})
    start = timezone.now() + dt.timedelta(days=1)
    booking = do_book(link.space, booker=member, start=start, end=start + dt.timedelta(hours=1))
    do_unlink_room(link)
    assert Space.objects.filter(pk=link.space_id).exists()
    assert Booking.objects.filter(pk=booking.pk).exists()
    assert not RoomLink.objects.exists()
