"""Office plans: the administrators' plan editor and the members' plan view.

Views parse, authorize (`access_*`) and render; every write goes through spaces.services or
bookings.services. The JSON endpoints answer 4xx in the product's one error format
(openrooms.json_errors), as the API does.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import zoneinfo
from collections.abc import Callable
from functools import wraps
from pathlib import PurePosixPath
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from openrooms.accounts.decorators import check_admin
from openrooms.accounts.requests import SignedInRequest
from openrooms.bookings.availability import BusyInterval, SpaceFilter, busy_intervals
from openrooms.bookings.services import DESK_DAY_END, DESK_DAY_START, desk_day, do_book
from openrooms.input_checks import BadInput, parse_day, text_problem
from openrooms.json_errors import error_response, refusal_response
from openrooms.spaces.models import Floor, Office, Space
from openrooms.spaces.office_choice import chosen_office
from openrooms.spaces.office_time import at_office, now_in
from openrooms.spaces.plans import CONTENT_TYPES, PlanImageError
from openrooms.spaces.services import (
    access_floor_by_id,
    access_office_by_id,
    access_space_by_id,
    do_create_space,
    do_place_space,
    do_remove_from_plan,
    do_replace_plan_image,
    do_save,
    offices_of,
)


def json_endpoint(view: Callable[..., Any]) -> Callable[..., Any]:
    """POST-only JSON views: the body parsed into `payload`, every failure answered as JSON."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return error_response(401, "unauthenticated", "Sign in first.")
        if request.method != "POST":
            return error_response(405, "method_not_allowed", "Use POST.")
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return error_response(400, "bad_request", "The request body is not JSON.")
        if not isinstance(payload, dict):
            return error_response(400, "bad_request", "The request body must be a JSON object.")
        try:
            refuse_control_characters(payload)
            return view(request, payload, *args, **kwargs)
        except Exception as error:
            return refusal_response(error)

    return wrapper


def refuse_control_characters(value: Any, field: str = "request") -> None:
    """Every string of the body, however deep, checked before any view reads it."""
    if isinstance(value, str) and (problem := text_problem(value)):
        raise BadInput(problem, field=field)
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_control_characters(key, field)
            refuse_control_characters(item, str(key))
    elif isinstance(value, list):
        for item in value:
            refuse_control_characters(item, field)


def fraction(payload: dict[str, Any], name: str) -> float:
    value = payload.get(name)
    # bool is an int in Python; true/false is not a position.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInput(f"{name} must be a number between 0 and 1.", field=name)
    if not 0 <= value <= 1:
        raise BadInput(f"{name} must be between 0 and 1 (a fraction of the plan's size).",
                       field=name)
    return float(value)


def floor_of_office(request: SignedInRequest, office_id: int, floor_id: int) -> Floor:
    floor = access_floor_by_id(request.user.organisation, floor_id)
    if floor.office_id != office_id:
        raise Http404("No such floor in this office.")
    return floor


def editable_floor(request: SignedInRequest, office_id: int, floor_id: int) -> Floor:
    """The floor, for administrators. Loaded before the role is checked, so another
    organisation's id is a 404 for everybody and a 403 never confirms that it exists."""
    floor = floor_of_office(request, office_id, floor_id)
    check_admin(request)
    return floor


def space_of_floor(request: SignedInRequest, floor: Floor, space_id: object) -> Space:
    space = access_space_by_id(request.user.organisation, space_id)
    if space.office_id != floor.office_id:
        raise Http404("No such space in this office.")
    return space


def space_settings_url(space: Space) -> str:
    # The settings pages live in another part of the app; no link until they exist.
    try:
        return reverse("settings_space", args=[space.pk])
    except NoReverseMatch:
        return ""


def space_json(space: Space) -> dict[str, Any]:
    return {
        "id": space.pk,
        "kind": space.kind,
        "name": space.name,
        "floor": space.floor_id,
        "x": space.plan_x,
        "y": space.plan_y,
        "capacity": space.capacity,
        "amenities": space.amenities,
        "settings_url": space_settings_url(space),
    }


def plan_image_url(floor: Floor) -> str:
    if not floor.plan_image:
        return ""
    # The file name changes with every upload, so it doubles as a cache buster.
    version = PurePosixPath(floor.plan_image.name).stem[:12]
    return f"{reverse('plan_image', args=[floor.pk])}?v={version}"


# The plan editor (administrators).


@login_required
@require_GET
def plan_editor_office(request: SignedInRequest, office_id: int) -> HttpResponse:
    """Settings → Offices → Edit office plan: the office's first floor, or how to add one."""
    office = access_office_by_id(request.user.organisation, office_id)
    check_admin(request)
    first = office.floors.order_by("order", "name").first()
    if first is not None:
        return HttpResponseRedirect(reverse("plan_editor", args=[office.pk, first.pk]))
    return render(request, "plans/no_floors.html", {"office": office, "section": "offices"})


@login_required
@require_GET
def plan_editor(request: SignedInRequest, office_id: int, floor_id: int) -> HttpResponse:
    floor = editable_floor(request, office_id, floor_id)
    office = floor.office
    spaces = list(office.spaces.order_by("kind", "name"))
    return render(
        request,
        "plans/editor.html",
        {
            "section": "offices",
            "office": office,
            "floor": floor,
            "floors": office.floors.order_by("order", "name"),
            "image_url": plan_image_url(floor),
            "spaces": [space_json(space) for space in spaces],
        },
    )


@login_required
@require_POST
def plan_image_upload(request: SignedInRequest, office_id: int, floor_id: int) -> HttpResponse:
    floor = editable_floor(request, office_id, floor_id)
    editor = reverse("plan_editor", args=[floor.office_id, floor.pk])
    upload = request.FILES.get("image")
    if upload is None:
        messages.error(request, "Choose an image file to upload.")
        return HttpResponseRedirect(editor)
    had_image = bool(floor.plan_image)
    try:
        checked = do_replace_plan_image(floor, upload)
    except PlanImageError as error:
        messages.error(request, f"{upload.name}: {error.message}")
        return HttpResponseRedirect(editor)
    size = f"{checked.width} x {checked.height} pixels"
    if had_image and floor.spaces.filter(plan_x__isnull=False).exists():
        messages.warning(
            request,
            f"New plan image uploaded ({size}). Every desk and room kept its place relative "
            "to the image: check their positions and drag any that moved on the new plan.",
        )
    else:
        messages.success(
            request,
            f"Plan image uploaded ({size}). Click an empty spot on the plan to add a desk or "
            "a room.",
        )
    return HttpResponseRedirect(editor)


@json_endpoint
def plan_space_add(
    request: SignedInRequest, payload: dict[str, Any], office_id: int, floor_id: int
) -> JsonResponse:
    """Puts an existing desk or room on the plan, or creates a new one there."""
    floor = editable_floor(request, office_id, floor_id)
    x, y = fraction(payload, "x"), fraction(payload, "y")
    new_name = str(payload.get("new_name") or "").strip()
    if new_name:
        kind = payload.get("kind")
        if kind not in Space.Kind.values:
            raise BadInput("kind must be desk or room.", field="kind")
        space = do_create_space(
            floor.office, kind=kind, name=new_name, floor=floor, plan_x=x, plan_y=y
        )
    elif payload.get("space"):
        space = space_of_floor(request, floor, payload["space"])
        space = do_place_space(space, floor, x, y)
    else:
        raise BadInput("Choose a desk or room from the list, or name a new one.", field="space")
    return JsonResponse(space_json(space), status=201)


@json_endpoint
def plan_space_position(
    request: SignedInRequest, payload: dict[str, Any], office_id: int, floor_id: int, space_id: int
) -> JsonResponse:
    floor = floor_of_office(request, office_id, floor_id)
    space = space_of_floor(request, floor, space_id)
    check_admin(request)
    x, y = fraction(payload, "x"), fraction(payload, "y")
    return JsonResponse(space_json(do_place_space(space, floor, x, y)))


@json_endpoint
def plan_space_remove(
    request: SignedInRequest, payload: dict[str, Any], office_id: int, floor_id: int, space_id: int
) -> JsonResponse:
    floor = floor_of_office(request, office_id, floor_id)
    space = space_of_floor(request, floor, space_id)
    check_admin(request)
    return JsonResponse(space_json(do_remove_from_plan(space)))


@json_endpoint
def plan_space_rename(
    request: SignedInRequest, payload: dict[str, Any], office_id: int, floor_id: int, space_id: int
) -> JsonResponse:
    floor = floor_of_office(request, office_id, floor_id)
    space = space_of_floor(request, floor, space_id)
    check_admin(request)
    name = str(payload.get("name") or "").strip()
    if not name:
        raise BadInput("A name cannot be empty.", field="name")
    return JsonResponse(space_json(do_save(space, name=name)))


# Plan images, for everyone in the organisation.


@login_required
@require_GET
def plan_image(request: SignedInRequest, floor_id: int) -> FileResponse:
    """The plan image through the storage API, so it works on object storage too and only the
    floor's organisation can see it."""
    floor = access_floor_by_id(request.user.organisation, floor_id)
    if not floor.plan_image:
        raise Http404("This floor has no plan image.")
    extension = PurePosixPath(floor.plan_image.name).suffix.lstrip(".")
    response = FileResponse(
        floor.plan_image.open("rb"), content_type=CONTENT_TYPES.get(extension, "image/png")
    )
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


# The plan view (members).


def parse_range(
    office: Office, date_text: str, start_text: str, end_text: str
) -> tuple[dt.date, dt.datetime, dt.datetime]:
    """The day and the UTC range of the plan's time inputs, read in the office's time zone."""
    day = parse_day(date_text)
    try:
        start_time = dt.time.fromisoformat(start_text)
        end_time = dt.time.fromisoformat(end_text)
    except ValueError:
        raise BadInput("Times must look like 09:30.", field="start") from None
    start, end = at_office(office, day, start_time), at_office(office, day, end_time)
    if end <= start:
        raise BadInput("The end time must be after the start time.", field="end")
    return day, start, end


def default_range(office: Office) -> tuple[dt.date, dt.time, dt.time]:
    """Today, from the next half hour for an hour (or 09:00-10:00 after working hours)."""
    now = now_in(office)
    start = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=-now.minute % 30)
    if start.date() != now.date() or start.time() >= dt.time(22, 0):
        return now.date() + dt.timedelta(days=1), dt.time(9, 0), dt.time(10, 0)
    return now.date(), start.time(), (start + dt.timedelta(hours=1)).time()


def space_states(
    space_ids: list[int], busy: dict[int, list[BusyInterval]], account_id: int,
    start: dt.datetime, end: dt.datetime, zone: zoneinfo.ZoneInfo,
) -> list[dict[str, Any]]:
    states = []
    for space_id in space_ids:
        intervals = busy.get(space_id, [])
        overlapping = [b for b in intervals if b.start < end and b.end > start]
        if any(b.booker_id == account_id for b in overlapping):
            state = "yours"
        elif overlapping:
            state = "busy"
        else:
            state = "free"
        states.append(
            {
                "id": space_id,
                "state": state,
                "bookings": [
                    {
                        "who": "you" if b.booker_id == account_id else b.who,
                        "start": f"{b.start.astimezone(zone):%H:%M}",
                        "end": f"{b.end.astimezone(zone):%H:%M}",
                        "title": b.title,
                        "mine": b.booker_id == account_id,
                        "now": b.start < end and b.end > start,
                    }
                    for b in intervals
                ],
            }
        )
    return states


@login_required
@require_GET
def plan_view(request: SignedInRequest) -> HttpResponse:
    """Choose an office, a floor, a date and a time; see and book desks and rooms on the plan."""
    organisation = request.user.organisation
    offices = list(offices_of(organisation).order_by("name"))
    office = chosen_office(request)
    floors = list(office.floors.order_by("order", "name")) if office else []
    floor = next((f for f in floors if str(f.pk) == request.GET.get("floor")), None)
    floor = floor or next((f for f in floors if f.plan_image), floors[0] if floors else None)
    context: dict[str, Any] = {
        "nav": "plan", "offices": offices, "office": office, "floors": floors,
    }
    if office is None or floor is None:
        return render(request, "plans/view.html", context)
    day, start_time, end_time = default_range(office)
    date_text = request.GET.get("date") or day.isoformat()
    start_text = request.GET.get("start") or f"{start_time:%H:%M}"
    end_text = request.GET.get("end") or f"{end_time:%H:%M}"
    try:
        parse_range(office, date_text, start_text, end_text)
    except BadInput as error:
        messages.error(request, str(error))
        date_text = day.isoformat()
        start_text, end_text = f"{start_time:%H:%M}", f"{end_time:%H:%M}"
    placed = list(floor.spaces.filter(plan_x__isnull=False).order_by("kind", "name"))
    amenities = sorted({a for s in office.spaces.all() for a in s.amenities if isinstance(a, str)})
    context.update(
        floor=floor,
        image_url=plan_image_url(floor),
        spaces=[space_json(space) for space in placed],
        amenities=amenities,
        date=date_text,
        start=start_text,
        end=end_text,
        workday=f"{DESK_DAY_START:%H:%M}-{DESK_DAY_END:%H:%M}",
    )
    return render(request, "plans/view.html", context)


@login_required
@require_GET
def plan_status(request: SignedInRequest, floor_id: int) -> JsonResponse:
    """Free, busy or yours for every desk and room of the floor, in a constant number of queries."""
    floor = access_floor_by_id(request.user.organisation, floor_id)
    office = floor.office
    try:
        day, start, end = parse_range(
            office, request.GET.get("date", ""), request.GET.get("start", ""),
            request.GET.get("end", ""),
        )
    except BadInput as error:
        return refusal_response(error)
    spaces = SpaceFilter(floor=floor)
    busy = busy_intervals(
        office, day, spaces, show_subjects=request.user.organisation.show_meeting_subjects
    )
    space_ids = list(spaces.queryset(office).order_by("kind", "name").values_list("pk", flat=True))
    states = space_states(space_ids, busy, request.user.pk, start, end, office.zone)
    return JsonResponse({"spaces": states})


@json_endpoint
def plan_book(request: SignedInRequest, payload: dict[str, Any], floor_id: int) -> JsonResponse:
    """Books a desk or room from the plan: desks for the whole day or the chosen time range."""
    floor = access_floor_by_id(request.user.organisation, floor_id)
    space = access_space_by_id(request.user.organisation, payload.get("space"))
    if space.floor_id != floor.pk:
        raise Http404("No such space on this floor.")
    office = floor.office
    date_text = str(payload.get("date", ""))
    if payload.get("whole_day") and space.kind == Space.Kind.DESK:
        start, end = desk_day(office, parse_day(date_text), now=timezone.now())
    else:
        _, start, end = parse_range(
            office, date_text, str(payload.get("start", "")), str(payload.get("end", ""))
        )
    booking = do_book(
        space, booker=request.user, start=start, end=end,
        title=str(payload.get("title") or "")[:255],
    )
    zone = office.zone
    return JsonResponse(
        {
            "id": booking.pk,
            "space": space.pk,
            "start": f"{booking.start.astimezone(zone):%H:%M}",
            "end": f"{booking.end.astimezone(zone):%H:%M}",
            "message": f"Booked {space.name}, {booking.start.astimezone(zone):%a %d %b} "
            f"{booking.start.astimezone(zone):%H:%M}-{booking.end.astimezone(zone):%H:%M}.",
        },
        status=201,
    )
