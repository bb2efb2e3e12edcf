"""Nothing of another organisation is reachable: a sweep over every URL of the site and API.

Each URL pattern with parameters is filled with the ids of the *other* organisation's objects
and requested with every method, by an admin and by a member of the first organisation.
A pattern whose parameter the sweep cannot fill fails the test, so no new URL escapes it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from openrooms.accounts.services import do_create_account, do_create_api_token
from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book
from openrooms.integrations.microsoft365.graph.replies import Room
from openrooms.integrations.microsoft365.models import (
    OutboxEntry,
    RoomLink,
)
from openrooms.integrations.microsoft365.rooms import do_import_rooms
from openrooms.spaces.models import Space
from openrooms.spaces.services import do_create_floor, do_create_office, do_create_space

METHODS = ["get", "post", "put", "patch", "delete"]
# Parameter names mapped to the kind of object whose id fills them.
PARAMETER_KINDS = {
    "office": "office",
    "floor": "floor",
    "space": "space",
    "desk": "space",
    "room": "space",
    "booking": "booking",
    "token": "token",
    "account": "account",
    "member": "account",
    "link": "room_link",
    "entry": "outbox_entry",
}
# Parameters that name no object: filled with a plain value (the step of Test settings).
PLAIN_PARAMETERS = {"index": "0"}
PUBLIC_PREFIXES = ("static/", "media/")


def walk(patterns, prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route


def parameterised_routes() -> list[str]:
    routes = {r for r in walk(get_resolver().url_patterns) if "<" in r}
    return sorted(r for r in routes if not r.startswith(PUBLIC_PREFIXES))


def kind_of(parameter: str) -> str:
    for word, kind in PARAMETER_KINDS.items():
        if word in parameter:
            return kind
    raise AssertionError(
        f"The tenancy sweep does not know URL parameter <{parameter}>: teach PARAMETER_KINDS."
    )


def fill(route: str, ids: dict[str, int]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        return PLAIN_PARAMETERS.get(name) or str(ids[kind_of(name)])

    path = re.sub(r"<(?:\w+:)?(?P<name>\w+)>", replace, route)
    return "/" + path.lstrip("^").rstrip("$")


@pytest.fixture
def foreign_ids(other_organisation, outsider) -> dict[str, int]:
    office = do_create_office(other_organisation, name="Globex Tower", timezone="UTC")
    floor = do_create_floor(office, name="Top")
    space = do_create_space(office, kind=Space.Kind.ROOM, name="Secret room", floor=floor)
    start = (timezone.now() + dt.timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    booking = do_book(space, booker=outsider, start=start, end=start + dt.timedelta(hours=1))
    token, _ = do_create_api_token(outsider)
    account = do_create_account(other_organisation, email="x@globex.test", password="pw-Zz9!kk")
    [link] = do_import_rooms(
        other_organisation, office,
        [Room(id="r", email_address="secret-room@globex.test", display_name="Linked")],
        room_lists={},
    )
    entry = OutboxEntry.objects.create(
        organisation=other_organisation, booking=booking, sequence=1,
        kind=OutboxEntry.Kind.CREATE, mailbox="secret-room@globex.test",
        state=OutboxEntry.State.FAILED, attempts=3, next_attempt_at=timezone.now(),
        last_error="Globex's error",
    )
    return {
        "office": office.pk,
        "floor": floor.pk,
        "space": space.pk,
        "booking": booking.pk,
        "token": token.pk,
        "account": account.pk,
        "room_link": link.pk,
        "outbox_entry": entry.pk,
    }


def test_the_sweep_covers_the_api_and_the_settings_pages():
    routes = parameterised_routes()
    assert any(r.startswith("api/v1/") for r in routes)
    assert any("booking" in r for r in routes)


@pytest.mark.parametrize("role", ["admin", "member"])
def test_no_url_reaches_another_organisations_objects(role, admin, member, foreign_ids):
    account = admin if role == "admin" else member
    _, token = do_create_api_token(account)
    api = Client(headers={"authorization": f"Bearer {token}"})
    web = Client()
    web.force_login(account)
    start = timezone.now() + dt.timedelta(days=2)
    # A well-formed body, pointing at the other organisation's objects where it names any.
    body = {
        "start": start.isoformat(),
        "end": (start + dt.timedelta(hours=1)).isoformat(),
        "title": "probe",
        "name": "probe",
        "kind": "room",
        "office": foreign_ids["office"],
        "floor": foreign_ids["floor"],
        "space": foreign_ids["space"],
    }
    leaks = []
    for route in parameterised_routes():
        client = api if route.startswith("api/") else web
        path = fill(route, foreign_ids)
        # A route whose parameters name no object reaches nothing of the other organisation;
        # there a member's 403 for an admin page is the right answer.
        names = re.findall(r"<(?:\w+:)?(\w+)>", route)
        allowed = {404, 405} | ({403} if set(names) <= set(PLAIN_PARAMETERS) else set())
        for method in METHODS:
            response = send(client, method, path, body, json_body=client is api)
            if response.status_code not in allowed:
                leaks.append(f"{method.upper()} {path} -> {response.status_code}")
    assert not leaks, "\n".join(leaks)


def send(client: Client, method: str, path: str, body: dict, *, json_body: bool):
    """The request a browser (form fields, query string) or an API client (JSON) would send.

    A page's JSON endpoint (the plan editor's) that refuses form fields is sent JSON, as its
    script sends."""
    if json_body:
        return getattr(client, method)(path, body, content_type="application/json")
    if method in ("get", "post"):
        response = getattr(client, method)(path, body)
    else:
        response = getattr(client, method)(
            path, urlencode(body), content_type="application/x-www-form-urlencoded"
        )
    if response.status_code == 400 and response["Content-Type"].startswith("application/json"):
        return send(client, method, path, body, json_body=True)
    return response


def foreign_footprint(other_organisation) -> tuple[int, ...]:
    return (
        Booking.objects.filter(space__office__organisation=other_organisation).count(),
        Space.objects.filter(office__organisation=other_organisation).count(),
        RoomLink.objects.filter(space__office__organisation=other_organisation).count(),
    )


@pytest.mark.parametrize("role", ["admin", "member"])
def test_ids_of_another_organisation_in_forms_and_queries_reveal_and_change_nothing(
    role, admin, member, office, other_organisation, foreign_ids
):
    """Every page without path parameters, sent the other organisation's ids as form fields
    and query parameters: its names never show, and nothing of it is written."""
    account = admin if role == "admin" else member
    web = Client()
    web.force_login(account)
    start = timezone.now() + dt.timedelta(days=2)
    ids = {
        "office": foreign_ids["office"], "floor": foreign_ids["floor"],
        "space": foreign_ids["space"], "spaces": foreign_ids["space"],
        "rooms": "secret-room@globex.test", "mailbox": "secret-room@globex.test",
        "booking": foreign_ids["booking"], "account": foreign_ids["account"],
        "date": start.date().isoformat(), "start": "10:00", "end": "11:00", "title": "probe",
    }
    before = foreign_footprint(other_organisation)
    routes = {
        r for r in walk(get_resolver().url_patterns)
        if "<" not in r and not r.startswith(("api/", *PUBLIC_PREFIXES))
    }
    shown = []
    for route in sorted(routes):
        path = "/" + route
        for method in ("get", "post"):
            page = send(web, method, path, ids, json_body=False).content.decode(errors="ignore")
            for secret in ("Globex Tower", "Secret room", "x@globex.test"):
                if secret in page:
                    shown.append(f"{method.upper()} {path} shows {secret!r}")
    assert not shown, "\n".join(shown)
    assert foreign_footprint(other_organisation) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/bookings", {"space": "space"}),
        ("post", "/api/v1/spaces", {"office": "office", "kind": "desk", "name": "x"}),
        ("get", "/api/v1/spaces?office={office}", None),
        ("get", "/api/v1/bookings?space={space}", None),
        ("get", "/api/v1/availability?office={office}&date=2030-01-01", None),
    ],
)
def test_ids_of_another_organisation_in_bodies_and_queries_are_404(
    admin, office, floor, foreign_ids, method, path, body
):
    _, token = do_create_api_token(admin)
    client = Client(headers={"authorization": f"Bearer {token}"})
    start = timezone.now() + dt.timedelta(days=2)
    payload = {"start": start.isoformat(), "end": (start + dt.timedelta(hours=1)).isoformat()}
    for field, value in (body or {}).items():
        payload[field] = foreign_ids.get(value, value)
    response = getattr(client, method)(
        path.format(**foreign_ids), payload if body else None, content_type="application/json"
    )
    assert response.status_code == 404, response.content


def test_a_floor_of_another_organisation_cannot_hold_a_new_space(admin, office, foreign_ids):
    _, token = do_create_api_token(admin)
    response = Client(headers={"authorization": f"Bearer {token}"}).post(
        "/api/v1/spaces",
        {"office": office.pk, "kind": "desk", "name": "x", "floor": foreign_ids["floor"]},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert not Space.objects.filter(name="x").exists()
