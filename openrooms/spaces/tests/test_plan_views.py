"""The plan editor (administrators) and the plan view (members), over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import FileResponse, HttpResponseRedirect
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from openrooms.accounts.models import Account, Organisation
from openrooms.bookings.models import Booking
from openrooms.bookings.services import do_book
from openrooms.spaces.models import Floor, Office, Space
from openrooms.spaces.services import (
    do_create_floor,
    do_create_office,
    do_create_space,
    do_place_space,
)
from openrooms.spaces.tests.test_plan_images import SVG, bomb_png, image_bytes, png

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

LONDON = zoneinfo.ZoneInfo("Europe/London")


@pytest.fixture(autouse=True)
def media_in_tmp_path(settings: Settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def editor_url(name: str, floor: Floor, *more: object) -> str:
    return reverse(name, args=[floor.office_id, floor.pk, *more])


def post_json(client: Client, url: str, body: object) -> tuple[int, dict]:
    response = client.post(url, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def upload(client: Client, floor: Floor, name: str, content: bytes) -> TestResponse:
    file = SimpleUploadedFile(name, content, content_type="image/png")
    return client.post(editor_url("plan_image_upload", floor), {"image": file}, follow=True)


@pytest.fixture
def foreign_floor(other_organisation: Organisation) -> Floor:
    office = do_create_office(other_organisation, name="Globex Tower")
    return do_create_floor(office, name="Top floor")


@pytest.fixture
def tomorrow(office: Office) -> str:
    return (timezone.now() + dt.timedelta(days=1)).date().isoformat()


# Who may open the editor


def test_members_cannot_open_the_editor(member_client: Client, floor: Floor) -> None:
    assert member_client.get(editor_url("plan_editor", floor)).status_code == 403
    office_url = reverse("plan_editor_office", args=[floor.office_id])
    assert member_client.get(office_url).status_code == 403


def test_members_cannot_upload_or_move(member_client: Client, floor: Floor, desk: Space) -> None:
    assert upload(member_client, floor, "plan.png", png()).status_code == 403
    status, body = post_json(
        member_client, editor_url("plan_space_position", floor, desk.pk), {"x": 0.5, "y": 0.5}
    )
    assert status == 403
    assert "administrators" in body["error"]["message"]


def test_another_organisations_floor_is_not_found(
    admin_client: Client, foreign_floor: Floor
) -> None:
    assert admin_client.get(editor_url("plan_editor", foreign_floor)).status_code == 404
    assert upload(admin_client, foreign_floor, "plan.png", png()).status_code == 404
    assert admin_client.get(reverse("plan_image", args=[foreign_floor.pk])).status_code == 404


def test_a_floor_under_another_offices_url_is_not_found(
    admin_client: Client, organisation: Organisation, floor: Floor
) -> None:
    other_office = do_create_office(organisation, name="Paris")
    url = reverse("plan_editor", args=[other_office.pk, floor.pk])
    assert admin_client.get(url).status_code == 404


def test_edit_office_plan_opens_the_first_floor(admin_client: Client, floor: Floor) -> None:
    response = admin_client.get(reverse("plan_editor_office", args=[floor.office_id]))
    assert response.status_code == 302
    assert isinstance(response, HttpResponseRedirect)
    assert response.url == editor_url("plan_editor", floor)


def test_an_office_without_floors_says_so(admin_client: Client, office: Office) -> None:
    response = admin_client.get(reverse("plan_editor_office", args=[office.pk]))
    assert b"has no floors yet" in response.content


def test_anonymous_visitors_are_sent_to_sign_in(client: Client, floor: Floor) -> None:
    response = client.get(editor_url("plan_editor", floor))
    assert response.status_code == 302
    assert isinstance(response, HttpResponseRedirect)
    assert reverse("login") in response.url


# Uploading plan images


def test_admin_uploads_a_plan_through_the_storage_api(admin_client: Client, floor: Floor) -> None:
    response = upload(admin_client, floor, "ground.png", png((640, 400)))
    floor.refresh_from_db()
    assert floor.plan_image.name.endswith(".png")
    assert default_storage.exists(floor.plan_image.name)
    assert (floor.plan_width, floor.plan_height) == (640, 400)
    assert b"Plan image uploaded (640 x 400 pixels)" in response.content
    assert b'class="plan-canvas"' in response.content


def test_an_svg_named_png_is_refused_and_not_stored(admin_client: Client, floor: Floor) -> None:
    response = upload(admin_client, floor, "ground.png", SVG)
    floor.refresh_from_db()
    assert not floor.plan_image
    assert b"SVG images are not accepted" in response.content


def test_a_decompression_bomb_is_refused(admin_client: Client, floor: Floor) -> None:
    response = upload(admin_client, floor, "ground.png", bomb_png(8000, 8000))
    floor.refresh_from_db()
    assert not floor.plan_image
    assert b"megapixels" in response.content


def test_an_oversize_upload_is_refused(
    admin_client: Client, floor: Floor, settings: Settings
) -> None:
    settings.PLAN_IMAGE_MAX_BYTES = 1000
    noise = image_bytes("PNG", (100, 100), noise=True)
    response = upload(admin_client, floor, "ground.png", noise)
    floor.refresh_from_db()
    assert not floor.plan_image
    assert b"a plan image can be at most" in response.content


def test_a_new_image_keeps_every_icon_and_asks_to_check_them(
    admin_client: Client,
    floor: Floor,
    desk: Space,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    upload(admin_client, floor, "ground.png", png((640, 400)))
    floor.refresh_from_db()
    first_name = floor.plan_image.name
    do_place_space(desk, floor, 0.25, 0.75)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(admin_client, floor, "ground-v2.jpg", image_bytes("JPEG", (1200, 900)))
    floor.refresh_from_db()
    desk.refresh_from_db()
    assert floor.plan_image.name.endswith(".jpg")
    assert (floor.plan_width, floor.plan_height) == (1200, 900)
    assert (desk.plan_x, desk.plan_y) == (0.25, 0.75)
    assert b"check their positions" in response.content
    assert not default_storage.exists(first_name)


def test_members_see_the_plan_image_and_outsiders_do_not(
    admin_client: Client, member_client: Client, outsider: Account, floor: Floor
) -> None:
    upload(admin_client, floor, "ground.png", png())
    response = member_client.get(reverse("plan_image", args=[floor.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert isinstance(response, FileResponse)
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    stranger = Client()
    stranger.force_login(outsider)
    assert stranger.get(reverse("plan_image", args=[floor.pk])).status_code == 404


# Placing, moving, renaming and removing


def test_moving_an_icon_saves_and_returns_its_position(
    admin_client: Client, floor: Floor, desk: Space
) -> None:
    status, body = post_json(
        admin_client, editor_url("plan_space_position", floor, desk.pk), {"x": 0.3, "y": 0.6}
    )
    assert status == 200
    assert (body["x"], body["y"], body["id"]) == (0.3, 0.6, desk.pk)
    desk.refresh_from_db()
    assert (desk.floor_id, desk.plan_x, desk.plan_y) == (floor.pk, 0.3, 0.6)


@pytest.mark.parametrize(
    "body",
    [
        {"x": 1.5, "y": 0.5},
        {"x": -0.1, "y": 0.5},
        {"x": "0.5", "y": 0.5},
        {"x": True, "y": 0.5},
        {"x": 0.5},
        {"x": 0.5, "y": None},
    ],
)
def test_a_bad_position_is_a_422_naming_the_field(
    admin_client: Client, floor: Floor, desk: Space, body: dict
) -> None:
    url = editor_url("plan_space_position", floor, desk.pk)
    status, answer = post_json(admin_client, url, body)
    assert status == 422
    assert "between 0 and 1" in answer["error"]["message"]
    [field] = answer["error"]["fields"]
    assert field in {"x", "y"}
    desk.refresh_from_db()
    assert desk.plan_x is None


def test_a_body_that_is_not_json_is_a_400(admin_client: Client, floor: Floor, desk: Space) -> None:
    url = editor_url("plan_space_position", floor, desk.pk)
    response = admin_client.post(url, "x=1", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "bad_request", "message": "The request body is not JSON."}


def test_a_space_of_another_organisation_is_a_404(
    admin_client: Client, floor: Floor, foreign_floor: Floor
) -> None:
    stranger = do_create_space(foreign_floor.office, kind=Space.Kind.DESK, name="Their desk")
    status, body = post_json(
        admin_client, editor_url("plan_space_position", floor, stranger.pk), {"x": 0.5, "y": 0.5}
    )
    assert status == 404
    assert body["error"]["code"] == "not_found"


def test_a_space_of_another_office_cannot_go_on_this_plan(
    admin_client: Client, organisation: Organisation, floor: Floor
) -> None:
    paris = do_create_office(organisation, name="Paris")
    elsewhere = do_create_space(paris, kind=Space.Kind.DESK, name="Paris desk")
    body = {"space": elsewhere.pk, "x": 0.5, "y": 0.5}
    status, _ = post_json(admin_client, editor_url("plan_space_add", floor), body)
    assert status == 404
    elsewhere.refresh_from_db()
    assert elsewhere.plan_x is None


def test_adding_an_existing_room_and_a_new_desk(
    admin_client: Client, floor: Floor, room: Space
) -> None:
    url = editor_url("plan_space_add", floor)
    status, body = post_json(admin_client, url, {"space": room.pk, "x": 0.1, "y": 0.2})
    assert status == 201
    assert (body["kind"], body["x"], body["y"]) == ("room", 0.1, 0.2)
    status, body = post_json(
        admin_client, url, {"kind": "desk", "new_name": "Window desk", "x": 0.9, "y": 0.9}
    )
    assert status == 201
    created = Space.objects.get(pk=body["id"])
    assert (created.kind, created.name, created.floor_id) == ("desk", "Window desk", floor.pk)
    status, body = post_json(
        admin_client, url, {"kind": "desk", "new_name": "Window desk", "x": 0.5, "y": 0.5}
    )
    assert status == 422
    assert "already exists" in body["error"]["message"]


def test_adding_needs_a_space_or_a_name(admin_client: Client, floor: Floor) -> None:
    url = editor_url("plan_space_add", floor)
    status, body = post_json(admin_client, url, {"x": 0.1, "y": 0.1})
    assert status == 422
    assert "Choose a desk or room" in body["error"]["message"]
    assert list(body["error"]["fields"]) == ["space"]


def test_renaming_and_removing(admin_client: Client, floor: Floor, desk: Space) -> None:
    do_place_space(desk, floor, 0.5, 0.5)
    status, body = post_json(
        admin_client, editor_url("plan_space_rename", floor, desk.pk), {"name": " Desk A "}
    )
    assert (status, body["name"]) == (200, "Desk A")
    status, body = post_json(admin_client, editor_url("plan_space_rename", floor, desk.pk), {})
    assert (status, list(body["error"]["fields"])) == (422, ["name"])
    status, body = post_json(admin_client, editor_url("plan_space_remove", floor, desk.pk), {})
    assert (status, body["x"], body["y"]) == (200, None, None)
    desk.refresh_from_db()
    assert (desk.name, desk.plan_x, desk.floor_id) == ("Desk A", None, floor.pk)


def test_the_editor_lists_every_space_of_the_office(
    admin_client: Client, floor: Floor, desk: Space, room: Space
) -> None:
    upload(admin_client, floor, "ground.png", png())
    response = admin_client.get(editor_url("plan_editor", floor))
    spaces = response.context["spaces"]
    assert {s["name"] for s in spaces} == {"Desk 1", "Boardroom"}
    assert spaces[0]["settings_url"].startswith("/settings/")
    assert b'id="plan-spaces"' in response.content
    assert b"style=" not in response.content  # the CSP allows no inline styles


# The plan view


@pytest.fixture
def planned(floor: Floor, desk: Space, room: Space) -> Floor:
    do_place_space(desk, floor, 0.2, 0.2)
    do_place_space(room, floor, 0.6, 0.4)
    return floor


def status_of(client: Client, floor: Floor, day: str, start: str, end: str) -> dict[int, dict]:
    response = client.get(
        reverse("plan_status", args=[floor.pk]), {"date": day, "start": start, "end": end}
    )
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["spaces"]}


def london(day: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=LONDON)


def test_the_plan_view_shows_the_first_floor(member_client: Client, planned: Floor) -> None:
    response = member_client.get(reverse("plan_view"))
    assert response.status_code == 200
    assert response.context["floor"] == planned
    assert {s["name"] for s in response.context["spaces"]} == {"Desk 1", "Boardroom"}
    assert b"style=" not in response.content


def test_status_says_free_busy_and_yours(
    member_client: Client, admin: Account, member: Account, planned: Floor, desk: Space,
    room: Space, tomorrow: str,
) -> None:
    do_book(desk, booker=member, start=london(tomorrow, "09:00"), end=london(tomorrow, "12:00"))
    do_book(room, booker=admin, start=london(tomorrow, "10:00"), end=london(tomorrow, "11:00"),
            title="Board meeting")
    states = status_of(member_client, planned, tomorrow, "10:30", "11:30")
    assert states[desk.pk]["state"] == "yours"
    assert states[room.pk]["state"] == "busy"
    booking = states[room.pk]["bookings"][0]
    assert (booking["start"], booking["end"], booking["now"]) == ("10:00", "11:00", True)
    assert booking["who"] == "admin"  # no name: the e-mail's local part
    assert booking["title"] == ""  # the organisation does not show subjects
    later = status_of(member_client, planned, tomorrow, "12:00", "13:00")
    assert {row["state"] for row in later.values()} == {"free"}


def test_subjects_show_when_allowed_but_never_for_private_meetings(
    member_client: Client, organisation: Organisation, admin: Account, planned: Floor,
    room: Space, tomorrow: str,
) -> None:
    organisation.show_meeting_subjects = True
    organisation.save()
    do_book(room, booker=admin, start=london(tomorrow, "10:00"), end=london(tomorrow, "11:00"),
            title="Board meeting")
    secret = do_book(room, booker=admin, start=london(tomorrow, "14:00"),
                     end=london(tomorrow, "15:00"), title="Layoffs")
    Booking.objects.filter(pk=secret.pk).update(is_private=True)
    titles = [b["title"] for b in status_of(member_client, planned, tomorrow, "09:00", "17:00")[
        room.pk]["bookings"]]
    assert titles == ["Board meeting", ""]


def test_status_takes_the_same_number_of_queries_for_any_number_of_spaces(
    member_client: Client, admin: Account, office: Office, planned: Floor, tomorrow: str,
) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            status_of(member_client, planned, tomorrow, "09:00", "10:00")
        return len(queries)

    few = count()
    for n in range(10):
        space = do_create_space(office, kind=Space.Kind.DESK, name=f"Extra {n}", floor=planned,
                                plan_x=0.5, plan_y=0.5)
        do_book(space, booker=admin, start=london(tomorrow, "09:00"),
                end=london(tomorrow, "10:00"))
    assert count() == few


def test_status_rejects_a_bad_range(member_client: Client, planned: Floor, tomorrow: str) -> None:
    query = {"date": tomorrow, "start": "11:00", "end": "10:00"}
    response = member_client.get(reverse("plan_status", args=[planned.pk]), query)
    assert response.status_code == 422
    assert "after the start" in response.json()["error"]["message"]
    assert list(response.json()["error"]["fields"]) == ["end"]


def test_status_of_another_organisations_floor_is_not_found(
    member_client: Client, foreign_floor: Floor, tomorrow: str
) -> None:
    response = member_client.get(
        reverse("plan_status", args=[foreign_floor.pk]),
        {"date": tomorrow, "start": "09:00", "end": "10:00"},
    )
    assert response.status_code == 404


def test_a_member_books_a_desk_for_the_whole_day(
    member_client: Client, member: Account, planned: Floor, desk: Space, tomorrow: str
) -> None:
    status, body = post_json(
        member_client, reverse("plan_book", args=[planned.pk]),
        {"space": desk.pk, "date": tomorrow, "whole_day": True, "start": "10:00", "end": "11:00"},
    )
    assert status == 201, body
    booking = Booking.objects.get(pk=body["id"])
    assert booking.booker == member
    assert (body["start"], body["end"]) == ("08:00", "18:00")
    states = status_of(member_client, planned, tomorrow, "10:00", "11:00")
    assert states[desk.pk]["state"] == "yours"


def test_a_member_books_a_room_with_a_title_and_a_clash_is_a_409(
    member_client: Client, planned: Floor, room: Space, tomorrow: str
) -> None:
    url = reverse("plan_book", args=[planned.pk])
    body = {"space": room.pk, "date": tomorrow, "start": "10:00", "end": "11:00",
            "title": "Planning"}
    status, answer = post_json(member_client, url, body)
    assert status == 201
    assert Booking.objects.get(pk=answer["id"]).title == "Planning"
    status, answer = post_json(member_client, url, {**body, "start": "10:30", "end": "12:00"})
    assert status == 409
    assert "already booked" in answer["error"]["message"]


def test_booking_a_space_of_another_organisation_is_not_found(
    member_client: Client, planned: Floor, foreign_floor: Floor, tomorrow: str
) -> None:
    stranger = do_create_space(foreign_floor.office, kind=Space.Kind.DESK, name="Their desk",
                               floor=foreign_floor)
    status, _ = post_json(
        member_client, reverse("plan_book", args=[planned.pk]),
        {"space": stranger.pk, "date": tomorrow, "start": "10:00", "end": "11:00"},
    )
    assert status == 404


def test_json_endpoints_answer_anonymous_visitors_with_401(client: Client, floor: Floor) -> None:
    response = client.post(
        editor_url("plan_space_add", floor), "{}", content_type="application/json"
    )
    assert response.status_code == 401
    assert response.json()["error"] == {"code": "unauthenticated", "message": "Sign in first."}


def test_json_endpoints_only_take_post(admin_client: Client, floor: Floor, desk: Space) -> None:
    response = admin_client.get(editor_url("plan_space_position", floor, desk.pk))
    assert response.status_code == 405


def test_a_member_of_an_organisation_without_offices_is_told_so(
    member_client: Client,
) -> None:
    response = member_client.get(reverse("plan_view"))
    assert response.status_code == 200
    assert b"has no offices yet" in response.content
