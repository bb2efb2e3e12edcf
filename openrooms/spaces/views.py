"""The admin settings area: offices, floors, desks and rooms, meeting rooms, integrations.

Every view is for administrators and loads objects through the organisation-scoped `access_*`
helpers before it checks the role (`check_admin`), so an id of another organisation is a 404
for everybody and a member gets 403 on the organisation's own objects.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from openrooms.accounts.decorators import admin_required, check_admin
from openrooms.accounts.requests import SignedInRequest
from openrooms.forms import add_service_errors
from openrooms.spaces.forms import FloorForm, OfficeForm, SpaceForm
from openrooms.spaces.models import Floor, Office, Space
from openrooms.spaces.services import (
    access_floor_by_id,
    access_office_by_id,
    access_space_by_id,
    do_create_floor,
    do_create_office,
    do_create_space,
    do_delete,
    do_save,
    offices_of,
)

KINDS = {"desks": Space.Kind.DESK, "rooms": Space.Kind.ROOM}


def saved(form: forms.BaseForm, save: Callable[[dict[str, Any]], object]) -> bool:
    """Validates the form, then calls the service; its ValidationError lands on the form."""
    if not form.is_valid():
        return False
    try:
        save(form.cleaned_data)
    except ValidationError as error:
        add_service_errors(form, error)
        return False
    return True


def status_of(form: forms.BaseForm) -> int:
    return 400 if form.is_bound and form.errors else 200


@admin_required
def settings_home(request: SignedInRequest) -> HttpResponse:
    return redirect("settings_offices")


# Offices


@admin_required
def office_list(request: SignedInRequest) -> HttpResponse:
    offices = offices_of(request.user.organisation).prefetch_related("floors")
    return render(request, "settings/offices.html", {"offices": offices, "section": "offices"})


@admin_required
def office_create(request: SignedInRequest) -> HttpResponse:
    organisation = request.user.organisation
    form = OfficeForm(
        request.POST or None,
        instance=Office(organisation=organisation),
        initial={"timezone": organisation.timezone},
    )
    if request.method == "POST":
        created: list[Office] = []
        if saved(form, lambda data: created.append(do_create_office(organisation, **data))):
            messages.success(request, f"Office “{created[0].name}” created.")
            return redirect("settings_office", office_id=created[0].pk)
    return render(
        request,
        "settings/office_form.html",
        {"form": form, "section": "offices"},
        status=status_of(form),
    )


def office_context(office: Office, tab: str) -> dict[str, Any]:
    return {"office": office, "floors": list(office.floors.all()), "tab": tab, "section": "offices"}


@login_required
def office_detail(request: SignedInRequest, office_id: int) -> HttpResponse:
    office = access_office_by_id(request.user.organisation, office_id)
    check_admin(request)
    # The form edits a copy, so the page's title keeps the saved name while input is wrong.
    form = OfficeForm(request.POST or None, instance=copy.copy(office))
    if request.method == "POST" and saved(form, lambda data: do_save(office, **data)):
        messages.success(request, "Office saved.")
        return redirect("settings_office", office_id=office.pk)
    context = office_context(office, "details") | {
        "form": form,
        "desk_count": office.spaces.filter(kind=Space.Kind.DESK).count(),
        "room_count": office.spaces.filter(kind=Space.Kind.ROOM).count(),
    }
    return render(request, "settings/office_detail.html", context, status=status_of(form))


def confirm_delete(
    request: HttpRequest, instance: Office | Floor | Space, *, back: str, done: str, warning: str
) -> HttpResponse:
    if request.method == "POST":
        try:
            do_delete(instance)
        except ValidationError as refusal:
            messages.error(request, " ".join(refusal.messages))
            return redirect(back)
        messages.success(request, f"“{instance}” deleted.")
        return redirect(done)
    return render(
        request,
        "settings/confirm_delete.html",
        {"object": instance, "back": back, "warning": warning, "section": "offices"},
    )


@login_required
def office_delete(request: SignedInRequest, office_id: int) -> HttpResponse:
    office = access_office_by_id(request.user.organisation, office_id)
    check_admin(request)
    return confirm_delete(
        request,
        office,
        back=reverse("settings_office", args=[office.pk]),
        done=reverse("settings_offices"),
        warning="Its floors, desks, rooms and all their bookings are deleted with it.",
    )


# Floors


@login_required
def floor_list(request: SignedInRequest, office_id: int) -> HttpResponse:
    office = access_office_by_id(request.user.organisation, office_id)
    check_admin(request)
    form = FloorForm(request.POST or None, instance=Floor(office=office))
    if request.method == "POST" and saved(form, lambda data: do_create_floor(office, **data)):
        messages.success(request, f"Floor “{form.cleaned_data['name']}” added.")
        return redirect("settings_floors", office_id=office.pk)
    context = office_context(office, "floors") | {"form": form}
    return render(request, "settings/floors.html", context, status=status_of(form))


@login_required
def floor_edit(request: SignedInRequest, floor_id: int) -> HttpResponse:
    floor = access_floor_by_id(request.user.organisation, floor_id)
    check_admin(request)
    form = FloorForm(request.POST or None, instance=copy.copy(floor))
    if request.method == "POST" and saved(form, lambda data: do_save(floor, **data)):
        messages.success(request, "Floor saved.")
        return redirect("settings_floors", office_id=floor.office_id)
    context = office_context(floor.office, "floors") | {"form": form, "floor": floor}
    return render(request, "settings/floor_form.html", context, status=status_of(form))


@login_required
def floor_delete(request: SignedInRequest, floor_id: int) -> HttpResponse:
    floor = access_floor_by_id(request.user.organisation, floor_id)
    check_admin(request)
    floors_url = reverse("settings_floors", args=[floor.office_id])
    return confirm_delete(
        request,
        floor,
        back=floors_url,
        done=floors_url,
        warning="Its desks and rooms stay in the office, without a floor or a place on a plan.",
    )


# Desks and rooms


@login_required
def space_list(request: SignedInRequest, office_id: int, kinds: str) -> HttpResponse:
    office = access_office_by_id(request.user.organisation, office_id)
    check_admin(request)
    kind = KINDS[kinds]
    form = SpaceForm(request.POST or None, instance=Space(office=office, kind=kind))
    if request.method == "POST" and saved(
        form, lambda data: do_create_space(office, kind=kind, **data)
    ):
        messages.success(request, f"{kind.label} “{form.cleaned_data['name']}” added.")
        return redirect(f"settings_{kinds}", office_id=office.pk)
    spaces = office.spaces.filter(kind=kind).select_related("floor").order_by("name")
    context = office_context(office, kinds) | {
        "form": form,
        "spaces": spaces,
        "kind": kind,
        "kinds": kinds,
    }
    return render(request, "settings/spaces.html", context, status=status_of(form))


@login_required
def space_edit(request: SignedInRequest, space_id: int) -> HttpResponse:
    space = access_space_by_id(request.user.organisation, space_id)
    check_admin(request)
    form = SpaceForm(request.POST or None, instance=copy.copy(space))
    kinds = f"{space.kind}s"
    if request.method == "POST" and saved(form, lambda data: do_save(space, **data)):
        messages.success(request, f"{space.get_kind_display()} saved.")
        return redirect(f"settings_{kinds}", office_id=space.office_id)
    context = office_context(space.office, kinds) | {"form": form, "space": space, "kinds": kinds}
    return render(request, "settings/space_form.html", context, status=status_of(form))


@login_required
def space_delete(request: SignedInRequest, space_id: int) -> HttpResponse:
    space = access_space_by_id(request.user.organisation, space_id)
    check_admin(request)
    spaces_url = reverse(f"settings_{space.kind}s", args=[space.office_id])
    return confirm_delete(
        request,
        space,
        back=spaces_url,
        done=spaces_url,
        warning="Its bookings are deleted with it. To keep them, make it not bookable instead.",
    )


# Meeting rooms and integrations: the pages later issues fill.


@admin_required
def meeting_rooms(request: SignedInRequest) -> HttpResponse:
    rooms = Space.objects.filter(kind=Space.Kind.ROOM).select_related("floor").order_by("name")
    offices = offices_of(request.user.organisation).prefetch_related(
        Prefetch("spaces", queryset=rooms, to_attr="rooms")
    )
    return render(
        request, "settings/meeting_rooms.html", {"offices": offices, "section": "meeting_rooms"}
    )


@admin_required
def integrations(request: SignedInRequest) -> HttpResponse:
    return render(request, "settings/integrations.html", {"section": "integrations"})
