"""Member pages: the day view of an office, booking a slot, and "My bookings".

Views parse the request, load objects through the organisation-scoped `access_*` helpers,
call the `do_*` actions and render; the booking rules live in bookings.services.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from openrooms import input_checks
from openrooms.accounts.requests import SignedInRequest
from openrooms.bookings.availability import SpaceFilter, SpaceSummary, day_of_spaces
from openrooms.bookings.errors import BookingConflict, BookingError
from openrooms.bookings.forms import BookingForm
from openrooms.bookings.models import Booking
from openrooms.bookings.row_html import row_html
from openrooms.bookings.services import (
    DESK_DAY_END,
    access_booking_by_id,
    can_change,
    conflicts_of,
    do_book,
    do_cancel_booking,
    past_bookings_of,
    upcoming_bookings_of,
)
from openrooms.bookings.timeline import CELL, FIRST_HOUR, Row, hours
from openrooms.input_checks import BadInput
from openrooms.spaces.models import Office, Space
from openrooms.spaces.office_choice import chosen_office
from openrooms.spaces.office_time import day_bounds, now_in, today_in
from openrooms.spaces.services import access_floor_by_id, access_space_by_id

KIND_FILTERS = {"desk": Space.Kind.DESK, "room": Space.Kind.ROOM}
PAST_BOOKINGS_SHOWN = 30
SPACES_PER_PAGE = 200


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def parse_day(value: str | None, office: Office) -> dt.date:
    """The day a page shows: the one asked for, or today when it is not a day the product holds
    (a page is never refused for a stale or hand-edited link)."""
    try:
        return input_checks.parse_day(value or "")
    except BadInput:
        return today_in(office)


def url_of_each(view_name: str) -> Callable[[int | str], str]:
    """reverse(view_name, args=[id]) for any number of ids at the cost of one reverse."""
    marker = 9_876_543_210
    head, tail = reverse(view_name, args=[marker]).split(str(marker))
    return lambda pk: f"{head}{pk}{tail}"


def timeline_rows(
    request: SignedInRequest, office: Office, day: dt.date, spaces: Sequence[SpaceSummary]
) -> list[Row]:
    """The day's rows of `spaces` (of `office`): one query for any number of them, and one
    more for the Outlook conflicts of the rows that have any."""
    days = day_of_spaces(
        office, day, SpaceFilter(ids=[space.pk for space in spaces]), viewer_id=request.user.pk,
        show_subjects=request.user.organisation.show_meeting_subjects,
    )
    rows = [Row(space, day, days[space.pk].busy_json) for space in spaces]
    in_conflict = [row for row in rows if days[row.space.pk].has_conflicts]
    attach_conflicts(request, office, day, in_conflict)
    return rows


def booking_form_url(day: dt.date) -> Callable[[int | str], str]:
    """The booking form of a space (by id) on `day`."""
    form_of, query = url_of_each("book"), f"?{urlencode({'date': day.isoformat()})}"
    return lambda pk: form_of(pk) + query


def rows_html(
    rows: list[Row], day: dt.date, *, extra: str = "", with_form: bool = False
) -> list[SafeString]:
    book_url = booking_form_url(day)
    return [
        row_html(row, book_url=book_url(row.space.pk), extra=extra, with_form=with_form)
        for row in rows
    ]


def joined(parts: list[SafeString]) -> SafeString:
    """Safe strings one after the other, still safe (a page's rows in one piece of the page)."""
    return mark_safe("".join(parts))  # noqa: S308 - each part is safe


def timeline_settings(request: HttpRequest, office: Office, day: dt.date) -> dict[str, str]:
    """What static/js/day.js needs to draw the page's rows: the office's zone, where the
    timeline starts (UTC), the time now, and the URL patterns to book and cancel."""
    first = dt.datetime.combine(day, dt.time(FIRST_HOUR), tzinfo=office.zone)
    return {
        "timezone": office.timezone,
        "date": day.isoformat(),
        "first": f"{first.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}",
        "now": f"{timezone.now():%Y-%m-%dT%H:%M:%SZ}",
        "book_url": booking_form_url(day)("{id}"),
        "cancel_url": url_of_each("cancel_booking")("{id}"),
        "csrf_token": get_token(request),
    }


def row_for(request: SignedInRequest, space: Space, day: dt.date) -> Row:
    [row] = timeline_rows(request, space.office, day, [SpaceSummary.of(space)])
    return row


def attach_conflicts(
    request: SignedInRequest, office: Office, day: dt.date, rows: list[Row]
) -> None:
    """Outlook meetings in conflict on the day, on their space's row (for whom may see them)."""
    if not rows:
        return
    start, end = day_bounds(office, day)
    by_space = {row.space.pk: row for row in rows}
    for conflict in conflicts_of(request.user.organisation, account=request.user).filter(
        space_id__in=by_space, start__lt=end, end__gt=start
    ):
        by_space[conflict.space_id].conflicts.append(conflict)


def day_url(office: Office, day: dt.date, **params: str) -> str:
    query: dict[str, int | str] = {"office": office.pk, "date": day.isoformat(), **params}
    return f"{reverse('home')}?{urlencode({k: v for k, v in query.items() if v})}"


@login_required
def day_view(request: SignedInRequest) -> HttpResponse:
    organisation = request.user.organisation
    office = chosen_office(request)
    if office is None:
        return render(request, "bookings/no_office.html", {"nav": "book"})
    day = parse_day(request.GET.get("date"), office)
    kind = request.GET.get("kind", "")
    kind = kind if kind in KIND_FILTERS else ""
    floors = list(office.floors.all())
    floor = None
    if request.GET.get("floor"):
        floor = access_floor_by_id(organisation, request.GET["floor"])
        floor = floor if floor.office_id == office.pk else None
    # Rooms first, then desks; a page at a time, so an office of thousands of desks stays a
    # page a browser can draw, and only the page's spaces are looked up.
    spaces = SpaceFilter(kind=KIND_FILTERS.get(kind), floor=floor)
    page = Paginator(spaces.summaries(office, with_amenities=True), SPACES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    summaries = [SpaceSummary(*row) for row in page.object_list]
    rows = timeline_rows(request, office, day, summaries)
    filters = {"kind": kind, "floor": str(floor.pk) if floor else ""}
    return render(
        request,
        "bookings/day.html",
        {
            "nav": "book",
            "office": office,
            "offices": organisation.offices.all(),
            "floors": floors,
            "floor": floor,
            "day": day,
            "is_today": day == today_in(office),
            "kind": kind,
            "rooms": joined(rows_html([r for r in rows if r.space.kind == Space.Kind.ROOM], day)),
            "desks": joined(rows_html([r for r in rows if r.space.kind == Space.Kind.DESK], day)),
            "timeline": timeline_settings(request, office, day),
            "hours": hours(),
            "previous_url": day_url(office, day - dt.timedelta(days=1), **filters),
            "next_url": day_url(office, day + dt.timedelta(days=1), **filters),
            "page": page,
            "previous_page_url": day_url(office, day, **filters, page=str(page.number - 1)),
            "next_page_url": day_url(office, day, **filters, page=str(page.number + 1)),
            "today_url": day_url(office, today_in(office), **filters),
        },
    )


def suggested_times(space: Space, day: dt.date, start_text: str | None) -> tuple[dt.time, dt.time]:
    """The slot a new booking form starts with: the clicked cell, else the next quarter hour
    today or 09:00 another day; an hour for a room, until the desk day's end for a desk."""
    try:
        start = dt.time.fromisoformat(start_text or "")
    except ValueError:
        now = now_in(space.office)
        if day == now.date():
            quarter = (now + CELL).replace(minute=(now.minute // 15) * 15, second=0, microsecond=0)
            start = quarter.time() if quarter.date() == day else dt.time(23, 45)
        else:
            start = dt.time(9)
    start_at = dt.datetime.combine(day, start)
    end_at = start_at + dt.timedelta(hours=1)
    desk_day_end = dt.datetime.combine(day, DESK_DAY_END)
    if space.kind == Space.Kind.DESK and end_at < desk_day_end:
        end_at = desk_day_end
    end = end_at.time() if end_at.date() == day else dt.time(23, 59)
    return start.replace(second=0, microsecond=0), end


def row_response(
    request: HttpRequest,
    row: Row,
    *,
    form: BookingForm | None = None,
    booked: str = "",
    status: int = 200,
) -> HttpResponse:
    """One row of the day view for htmx to swap in, with the inline form or a "booked" note."""
    extra = render_to_string(
        "bookings/_row_extras.html",
        {"space": row.space, "day": row.day, "form": form, "booked": booked},
        request=request,
    )
    [html] = rows_html([row], row.day, extra=extra, with_form=form is not None)
    return HttpResponse(html, status=status)


@login_required
def book(request: SignedInRequest, space_id: int) -> HttpResponse:
    """The booking form of one space: inline in its day-view row with htmx, a page without."""
    space = access_space_by_id(request.user.organisation, space_id)
    office = space.office
    day = parse_day(request.POST.get("date") or request.GET.get("date"), office)
    booking_form = partial(
        BookingForm, timezone_name=office.timezone, with_title=space.kind == Space.Kind.ROOM
    )
    booked = None
    if request.method == "POST":
        form = booking_form(request.POST)
        if form.is_valid():
            try:
                booked = do_book(
                    space,
                    booker=request.user,
                    start=form.start_at,
                    end=form.end_at,
                    title=form.cleaned_data.get("title", ""),
                )
            except BookingConflict as conflict:
                form.add_error(None, conflict.message)
            except BookingError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
    else:
        start, end = suggested_times(space, day, request.GET.get("start"))
        form = booking_form(initial={"date": day, "start": start, "end": end})

    if booked is not None:
        if is_htmx(request):
            row = row_for(request, space, day)
            return row_response(request, row, booked=booked_message(booked))
        messages.success(request, booked_message(booked))
        return redirect(day_url(office, form.cleaned_data["date"]))
    status = 422 if form.is_bound else 200
    if is_htmx(request):
        return row_response(request, row_for(request, space, day), form=form, status=status)
    return render(
        request,
        "bookings/book.html",
        {
            "nav": "book",
            "space": space,
            "office": office,
            "day": day,
            "form": form,
            "back_url": day_url(office, day),
        },
        status=status,
    )


def booked_message(booking: Booking) -> str:
    zone = booking.space.office.zone
    start, end = booking.start.astimezone(zone), booking.end.astimezone(zone)
    when = f"{start:%a} {start.day} {start:%b} from {start:%H:%M} to {end:%H:%M}"
    return f"{booking.space.name} is booked for you on {when}."


@login_required
def space_row(request: SignedInRequest, space_id: int) -> HttpResponse:
    """One row of the day view, e.g. when the inline booking form is closed."""
    space = access_space_by_id(request.user.organisation, space_id)
    day = parse_day(request.GET.get("date"), space.office)
    if not is_htmx(request):
        return redirect(day_url(space.office, day))
    return row_response(request, row_for(request, space, day))


@login_required
def my_bookings(request: SignedInRequest) -> HttpResponse:
    now = timezone.now()
    return render(
        request,
        "bookings/mine.html",
        {
            "nav": "mine",
            "upcoming": upcoming_bookings_of(request.user, now=now),
            "past": past_bookings_of(request.user, now=now)[:PAST_BOOKINGS_SHOWN],
            "now": now,
        },
    )


@login_required
def cancel(request: SignedInRequest, booking_id: int) -> HttpResponse:
    """GET asks for confirmation; POST cancels (only the booker or an admin: 403 otherwise)."""
    booking = access_booking_by_id(request.user.organisation, booking_id)
    if request.method != "POST":
        may_cancel = can_change(booking, request.user)
        context = {"booking": booking, "nav": "mine", "may_cancel": may_cancel}
        return render(request, "bookings/cancel.html", context)
    do_cancel_booking(booking, acting=request.user)
    if is_htmx(request) and request.POST.get("day"):
        day = parse_day(request.POST["day"], booking.space.office)
        return row_response(request, row_for(request, booking.space, day))
    if is_htmx(request):
        return render(
            request, "bookings/_booking_item.html", {"booking": booking, "now": timezone.now()}
        )
    messages.success(request, f"Your booking of {booking.space.name} is cancelled.")
    return redirect("my_bookings")
