"""The offices and spaces endpoints of /api/v1: members read them, administrators create them."""

from __future__ import annotations

from typing import Annotated

from django.core.exceptions import PermissionDenied
from ninja import Field, Router, Schema, Status

from openrooms.accounts.requests import SignedInRequest
from openrooms.input_checks import Text
from openrooms.json_errors import answers
from openrooms.spaces.models import Space
from openrooms.spaces.services import (
    access_floor_by_id,
    access_office_by_id,
    access_space_by_id,
    do_create_office,
    do_create_space,
    offices_of,
    spaces_of,
)

router = Router(tags=["offices and spaces"])


def require_admin(request: SignedInRequest) -> None:
    if not request.user.is_admin:
        raise PermissionDenied("Only administrators can do this.")


class OfficeIn(Schema):
    name: Text = Field(min_length=1, max_length=200)
    address: Text = Field(default="", max_length=2000)
    timezone: Text = Field(default="UTC", max_length=64)


class OfficeOut(Schema):
    id: int
    name: str
    address: str
    timezone: str


class SpaceIn(Schema):
    office: int
    kind: Space.Kind
    name: Text = Field(min_length=1, max_length=200)
    capacity: int = Field(default=1, ge=1, le=10_000)
    amenities: list[Annotated[Text, Field(max_length=100)]] = Field(default=[], max_length=50)
    bookable: bool = True
    floor: int | None = None


class SpaceOut(Schema):
    id: int
    office: int = Field(alias="office_id")
    floor: int | None = Field(alias="floor_id")
    kind: str
    name: str
    capacity: int
    amenities: list[str]
    bookable: bool
    plan_x: float | None
    plan_y: float | None


@router.get("/offices", response=answers({200: list[OfficeOut]}))
def list_offices(request: SignedInRequest):
    return offices_of(request.user.organisation)


@router.post("/offices", response=answers({201: OfficeOut}, 403))
def create_office(request: SignedInRequest, payload: OfficeIn):
    require_admin(request)
    return Status(201, do_create_office(request.user.organisation, **payload.dict()))


@router.get("/offices/{office_id}", response=answers({200: OfficeOut}, 404))
def get_office(request: SignedInRequest, office_id: int):
    return access_office_by_id(request.user.organisation, office_id)


@router.get("/spaces", response=answers({200: list[SpaceOut]}, 404))
def list_spaces(
    request: SignedInRequest, office: int | None = None, kind: Space.Kind | None = None
):
    spaces = spaces_of(request.user.organisation)
    if office is not None:
        spaces = spaces.filter(office=access_office_by_id(request.user.organisation, office))
    if kind is not None:
        spaces = spaces.filter(kind=kind)
    return spaces


@router.post("/spaces", response=answers({201: SpaceOut}, 403, 404))
def create_space(request: SignedInRequest, payload: SpaceIn):
    require_admin(request)
    organisation = request.user.organisation
    fields = payload.dict()
    office = access_office_by_id(organisation, fields.pop("office"))
    floor_id = fields.pop("floor")
    floor = access_floor_by_id(organisation, floor_id) if floor_id is not None else None
    return Status(201, do_create_space(office, floor=floor, **fields))


@router.get("/spaces/{space_id}", response=answers({200: SpaceOut}, 404))
def get_space(request: SignedInRequest, space_id: int):
    return access_space_by_id(request.user.organisation, space_id)
