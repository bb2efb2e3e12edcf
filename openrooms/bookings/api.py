"""The bookings endpoints of /api/v1: list, book, move and cancel bookings, and availability."""

from __future__ import annotations

import datetime as dt
import json

from django.http import Http404, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from openrooms.accounts.requests import SignedInRequest
from openrooms.bookings.availability import SpaceFilter, availability_json
from openrooms.bookings.models import Booking
from openrooms.bookings.services import (
    access_booking_by_id,
    bookings_of,
    do_book,
    do_cancel_booking,
    do_move_booking,
    visible_title,
)
from openrooms.input_checks import Day, Instant, Text
from openrooms.json_errors import answers
from openrooms.spaces.models import Space
from openrooms.spaces.services import access_floor_by_id, access_office_by_id, access_space_by_id

router = Router(tags=["bookings"])


class BookingIn(Schema):
    space: int
    start: Instant
    end: Instant
    title: Text = Field(default="", max_length=255)


class BookingChange(Schema):
    start: Instant
    end: Instant
    title: Text | None = Field(default=None, max_length=255)


class BookingOut(Schema):
    id: int
    space: int = Field(alias="space_id")
    booker: int | None = Field(alias="booker_id")
    start: dt.datetime
    end: dt.datetime
    title: str
    status: str
    source: str

    @staticmethod
    def resolve_title(booking: Booking, context: dict) -> str:
        return visible_title(booking, context["request"].user)


class BookingFilter(Schema):
    mine: bool = False
    from_: Instant | None = Field(default=None, alias="from")
    to: Instant | None = None
    space: int | None = None


class BusyOut(Schema):
    booking: int
    start: dt.datetime
    end: dt.datetime
    title: str
    mine: bool


class SpaceAvailabilityOut(Schema):
    id: int
    kind: str
    name: str
    capacity: int
    floor: int | None
    busy: list[BusyOut]


class AvailabilityOut(Schema):
    office: int
    date: dt.date
    timezone: str
    spaces: list[SpaceAvailabilityOut]


@router.get("/bookings", response=answers({200: list[BookingOut]}, 404))
def list_bookings(request: SignedInRequest, filters: Query[BookingFilter]):
    bookings = bookings_of(request.user.organisation).filter(status=Booking.Status.CONFIRMED)
    if filters.mine:
        bookings = bookings.filter(booker=request.user)
    if filters.from_ is not None:
        bookings = bookings.filter(end__gt=filters.from_)
    if filters.to is not None:
        bookings = bookings.filter(start__lt=filters.to)
    if filters.space is not None:
        space = access_space_by_id(request.user.organisation, filters.space)
        bookings = bookings.filter(space=space)
    return bookings.order_by("start")[:1000]


@router.post("/bookings", response=answers({201: BookingOut}, 404, 409))
def create_booking(request: SignedInRequest, payload: BookingIn):
    space = access_space_by_id(request.user.organisation, payload.space)
    booking = do_book(
        space, booker=request.user, start=payload.start, end=payload.end, title=payload.title
    )
    return Status(201, booking)


@router.get("/bookings/{booking_id}", response=answers({200: BookingOut}, 404))
def get_booking(request: SignedInRequest, booking_id: int):
    return access_booking_by_id(request.user.organisation, booking_id)


@router.patch(
    "/bookings/{booking_id}", response=answers({200: BookingOut}, 403, 404, 409)
)
def move_booking(request: SignedInRequest, booking_id: int, payload: BookingChange):
    booking = access_booking_by_id(request.user.organisation, booking_id)
    return do_move_booking(
        booking, acting=request.user, start=payload.start, end=payload.end, title=payload.title
    )


@router.delete("/bookings/{booking_id}", response=answers({204: None}, 403, 404))
def cancel_booking(request: SignedInRequest, booking_id: int):
    booking = access_booking_by_id(request.user.organisation, booking_id)
    do_cancel_booking(booking, acting=request.user)
    return Status(204, None)


@router.get("/availability", response=answers({200: AvailabilityOut}, 404))
def get_availability(
    request: SignedInRequest,
    office: int,
    date: Day,
    kind: Space.Kind | None = None,
    floor: int | None = None,
):
    organisation = request.user.organisation
    office_row = access_office_by_id(organisation, office)
    floor_row = access_floor_by_id(organisation, floor) if floor is not None else None
    if floor_row is not None and floor_row.office_id != office_row.pk:
        raise Http404("No such floor in this office.")
    spaces = availability_json(
        office_row, date, SpaceFilter(kind=kind, floor=floor_row), viewer_id=request.user.pk,
        show_subjects=organisation.show_meeting_subjects,
    )
    # Spliced in as the database wrote it: validating twelve thousand intervals against
    # AvailabilityOut (which documents the answer) cost more than the query.
    head = json.dumps(
        {"office": office_row.pk, "date": date.isoformat(), "timezone": office_row.timezone}
    )
    return HttpResponse(f'{head[:-1]}, "spaces": {spaces}}}', content_type="application/json")
