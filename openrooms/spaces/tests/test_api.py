"""The offices and spaces API: administrators create, members read, 422s, the OpenAPI docs."""

from __future__ import annotations

import pytest
from django.test import Client

from openrooms.accounts.services import do_create_api_token
from openrooms.spaces.models import Office, Space


def api_client(account) -> Client:
    _, token = do_create_api_token(account)
    return Client(headers={"authorization": f"Bearer {token}"})


def test_an_admin_creates_an_office_and_a_room(admin, organisation):
    client = api_client(admin)
    response = client.post(
        "/api/v1/offices",
        {"name": "Paris", "address": "1 rue Exemple", "timezone": "Europe/Paris"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    office_id = response.json()["id"]
    assert Office.objects.get(pk=office_id).organisation == organisation

    room = client.post(
        "/api/v1/spaces",
        {"office": office_id, "kind": "room", "name": "Salon", "capacity": 8},
        content_type="application/json",
    )
    assert room.status_code == 201, room.content
    assert room.json()["capacity"] == 8
    listed = client.get(f"/api/v1/spaces?office={office_id}&kind=room").json()
    assert [s["name"] for s in listed] == ["Salon"]


def test_a_member_may_read_but_not_create_offices_or_spaces(member, office):
    client = api_client(member)
    assert [o["id"] for o in client.get("/api/v1/offices").json()] == [office.pk]
    response = client.post(
        "/api/v1/offices", {"name": "Nope"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    response = client.post(
        "/api/v1/spaces",
        {"office": office.pk, "kind": "desk", "name": "Sneaky"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not Space.objects.filter(name="Sneaky").exists()


def test_an_unknown_time_zone_is_422_on_the_timezone_field(admin):
    response = api_client(admin).post(
        "/api/v1/offices", {"name": "Mars", "timezone": "Mars/Olympus"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "timezone" in response.json()["error"]["fields"]


def test_a_duplicate_space_name_is_422(admin, office, room):
    response = api_client(admin).post(
        "/api/v1/spaces",
        {"office": office.pk, "kind": "room", "name": room.name},
        content_type="application/json",
    )
    assert response.status_code == 422


@pytest.mark.parametrize("kind", ["hall", ""])
def test_an_unknown_kind_is_422(admin, office, kind):
    response = api_client(admin).post(
        "/api/v1/spaces", {"office": office.pk, "kind": kind, "name": "X"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "kind" in response.json()["error"]["fields"]


def test_the_openapi_document_and_docs_are_served(member):
    document = Client().get("/api/v1/openapi.json")
    assert document.status_code == 200
    spec = document.json()
    assert spec["openapi"].startswith("3.")
    for path in ["/api/v1/offices", "/api/v1/spaces", "/api/v1/availability", "/api/v1/bookings"]:
        assert path in spec["paths"]
    docs = Client().get("/api/v1/docs")
    assert docs.status_code == 200
