"""Who holds which space when: the confirmed bookings of an office's spaces that overlap a day.

One query whatever the number of spaces and bookings, asking only for the columns shown. The
API and the day view take the intervals as JSON the database writes (`availability_json`,
`day_of_spaces`): for a whole office that is twelve thousand intervals, and building them in
Python cost half as much again as the query (bench/availability.py). The plan's status reads
them as rows (`busy_intervals`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import QuerySet

from openrooms.bookings.models import Booking
from openrooms.spaces.models import Floor, Office, Space
from openrooms.spaces.office_time import day_bounds


class SpaceSummary(NamedTuple):
    """The fields of a Space that availability shows, without building 2,000 model objects."""

    pk: int
    kind: str
    name: str
    capacity: int
    floor_id: int | None
    amenities: Sequence[str] = ()  # loaded by pages that show them (`SpaceFilter.summaries`)

    @classmethod
    def of(cls, space: Space) -> SpaceSummary:
        return cls(space.pk, space.kind, space.name, space.capacity, space.floor_id,
                   space.amenities)


class BusyInterval(NamedTuple):
    """A confirmed booking as availability shows it; times are ISO 8601 UTC text."""

    space_id: int
    booking_id: int
    start_utc: str
    end_utc: str
    title: str  # blank when the organisation hides subjects or the booking is private
    booker_id: int | None
    who: str  # the booker's name, else their e-mail's local part, else the Outlook organizer

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.start_utc)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.end_utc)


class SpaceFilter(NamedTuple):
    """Which spaces of an office: bookable ones, of a kind, on a floor, or these ids."""

    kind: str | None = None
    floor: Floor | None = None
    ids: Collection[int] | None = None

    def summaries(self, office: Office, *, with_amenities: bool = False) -> QuerySet:
        """The matching spaces' SpaceSummary fields as tuples, rooms first, then by name: a
        query to slice for a page (`SpaceSummary(*row)` each)."""
        columns = ["pk", "kind", "name", "capacity", "floor_id"]
        if with_amenities:
            columns.append("amenities")
        return self.queryset(office).order_by("-kind", "name").values_list(*columns)

    def queryset(self, office: Office) -> QuerySet[Space]:
        matching = Space.objects.filter(office=office, bookable=True)
        if self.kind:
            matching = matching.filter(kind=self.kind)
        if self.floor is not None:
            matching = matching.filter(floor=self.floor)
        if self.ids is not None:
            matching = matching.filter(pk__in=self.ids)
        return matching


Sql = tuple[list[str], list[Any]]  # conditions joined by AND, and their parameters


def space_conditions(office: Office, spaces: SpaceFilter) -> Sql:
    """SQL conditions on spaces `s` for `spaces` of `office`: SpaceFilter.queryset's rules,
    written out (its SQL as an `s.id IN (...)` subquery made the API a tenth slower)."""
    where = ["s.office_id = %s", "s.bookable"]
    params: list[Any] = [office.pk]
    if spaces.kind:
        where.append("s.kind = %s")
        params.append(spaces.kind)
    if spaces.floor is not None:
        where.append("s.floor_id = %s")
        params.append(spaces.floor.pk)
    if spaces.ids is not None:
        ids = list(spaces.ids) or [0]
        where.append(f"s.id IN ({', '.join(['%s'] * len(ids))})")
        params.extend(ids)
    return where, params


def booking_conditions(
    office: Office, day: dt.date, *, alias: str = "b", status: str = Booking.Status.CONFIRMED
) -> Sql:
    """SQL conditions on bookings `alias`: of `status` (confirmed), overlapping `day` in the
    office's zone."""
    start, end = day_bounds(office, day)
    adapt = connection.ops.adapt_datetimefield_value
    # Adapted as the ORM would: SQLite stores naive UTC text, which an aware value's
    # "+00:00" suffix would make compare wrongly (midnight bookings on the previous day).
    where = [f"{alias}.status = %s", f"{alias}.start < %s", f'{alias}."end" > %s']
    return where, [status, adapt(end), adapt(start)]


def all_of(conditions: list[str]) -> str:
    return " AND ".join(conditions)


START, END = "b.start", 'b."end"'
PEOPLE = "LEFT JOIN accounts_account a ON a.id = b.booker_id"
# The organisation shows meeting subjects, and the booking is not private.
SHOWN_TITLE = "%s AND NOT b.is_private"


def who_sql() -> str:
    """SQL naming who holds an interval: the booker's name, else their e-mail's local part,
    else the Outlook organizer."""
    if connection.vendor == "postgresql":
        local_part = "split_part(a.email, '@', 1)"
    else:
        local_part = "substr(a.email, 1, instr(a.email, '@') - 1)"
    return f"COALESCE(NULLIF(a.name, ''), NULLIF({local_part}, ''), b.organizer_name, '')"


def utc_text(column: str) -> str:
    """SQL for a time column as the text both engines write for naive UTC: 'YYYY-MM-DD HH:MM:SS'."""
    if connection.vendor == "postgresql":
        return f"({column} AT TIME ZONE 'UTC')::text"
    return f"CAST({column} AS TEXT)"


def iso_sql(column: str) -> str:
    """SQL for a time column as ISO 8601 UTC text: '2026-12-07T08:00:00Z'."""
    return f"replace({utc_text(column)}, ' ', 'T') || 'Z'"


def busy_intervals(
    office: Office, day: dt.date, spaces: SpaceFilter, *, show_subjects: bool = True
) -> dict[int, list[BusyInterval]]:
    """Space id → its confirmed bookings overlapping `day` as rows, by start; one query."""
    on_spaces, space_params = space_conditions(office, spaces)
    on_bookings, booking_params = booking_conditions(office, day)
    sql = (
        f"SELECT b.space_id, b.id, {iso_sql(START)}, {iso_sql(END)}, "  # noqa: S608 - fixed SQL, values are parameters
        f"CASE WHEN {SHOWN_TITLE} THEN b.title ELSE '' END, b.booker_id, {who_sql()} "
        f"FROM bookings_booking b JOIN spaces_space s ON s.id = b.space_id {PEOPLE} "
        f"WHERE {all_of(on_spaces + on_bookings)} ORDER BY b.space_id, b.start"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [show_subjects, *space_params, *booking_params])
        rows = cursor.fetchall()
    busy: dict[int, list[BusyInterval]] = {}
    for row in rows:
        busy.setdefault(row[0], []).append(BusyInterval(*row))
    return busy


def intervals_json_sql(on_bookings: list[str], *, with_who: bool) -> str:
    """A subquery writing the JSON array of space `s`'s intervals by start:
    {"booking", "start", "end", "title", "mine"} and, `with_who`, "who". Its parameters:
    show subjects, the viewer's id, then those of `on_bookings`.

    Each engine writes it its fastest way: SQLite with its JSON functions, PostgreSQL by
    concatenating text (its json_agg and to_char took twice as long).
    """
    people = PEOPLE if with_who else ""
    matching = f"FROM bookings_booking b {people} WHERE b.space_id = s.id AND {all_of(on_bookings)}"
    mine = "b.booker_id = %s"
    if connection.vendor == "postgresql":
        who = f""" || ', "who": ' || to_json({who_sql()})::text""" if with_who else ""
        item = (
            f"""'{{"booking": ' || b.id || ', "start": "' || {iso_sql(START)}"""
            f""" || '", "end": "' || {iso_sql(END)} || '", "title": ' || CASE WHEN"""
            f""" {SHOWN_TITLE} THEN to_json(b.title)::text ELSE '""' END || ', "mine": ' ||"""
            f""" CASE WHEN {mine} THEN 'true' ELSE 'false' END{who} || '}}'"""
        )
        intervals = f"SELECT '[' || string_agg({item}, ', ' ORDER BY b.start) || ']' {matching}"
        return f"COALESCE(({intervals}), '[]')"
    who = f", 'who', {who_sql()}" if with_who else ""
    item = (
        f"json_object('booking', b.id, 'start', {iso_sql(START)}, 'end', {iso_sql(END)}, "
        f"'title', CASE WHEN {SHOWN_TITLE} THEN b.title ELSE '' END, "
        f"'mine', CASE WHEN {mine} THEN json('true') ELSE json('false') END{who})"
    )
    # SQLite 3.40 has no ORDER BY inside an aggregate: the intervals come in the order of the
    # (space, start) index the subquery searches (test_api.py checks the order).
    return f"(SELECT json_group_array({item}) {matching})"


def availability_json(
    office: Office, day: dt.date, spaces: SpaceFilter, *, viewer_id: int, show_subjects: bool
) -> str:
    """The "spaces" of the API's AvailabilityOut as a JSON array written by the database, rooms
    first then by name, each with its busy intervals by start; one query."""
    on_spaces, space_params = space_conditions(office, spaces)
    on_bookings, booking_params = booking_conditions(office, day)
    busy = intervals_json_sql(on_bookings, with_who=False)
    if connection.vendor == "postgresql":
        space = (
            """'{"id": ' || s.id || ', "kind": ' || to_json(s.kind)::text || ', "name": ' ||"""
            """ to_json(s.name)::text || ', "capacity": ' || s.capacity || ', "floor": ' ||"""
            f""" COALESCE(s.floor_id::text, 'null') || ', "busy": ' || {busy} || '}}'"""
        )
        sql = (
            f"SELECT '[' || string_agg({space}, ', ' ORDER BY s.kind DESC, s.name) || ']' "  # noqa: S608 - fixed SQL, values are parameters
            f"FROM spaces_space s WHERE {all_of(on_spaces)}"
        )
    else:
        sql = (
            "SELECT json_group_array(json_object('id', s.id, 'kind', s.kind, 'name', s.name, "  # noqa: S608 - fixed SQL, values are parameters
            f"'capacity', s.capacity, 'floor', s.floor_id, 'busy', {busy})) "
            f"FROM (SELECT * FROM spaces_space s WHERE {all_of(on_spaces)} "
            "ORDER BY s.kind DESC, s.name) s"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [show_subjects, viewer_id, *booking_params, *space_params])
        [(answer,)] = cursor.fetchall()
    return answer or "[]"


class SpaceDay(NamedTuple):
    """A space's day as the day view draws it."""

    busy_json: str  # [{"booking", "start", "end", "title", "mine", "who"}, ...] by start
    has_conflicts: bool  # Outlook meetings over a booking here (bookings.services.conflicts_of)


def day_of_spaces(
    office: Office, day: dt.date, spaces: SpaceFilter, *, viewer_id: int, show_subjects: bool
) -> dict[int, SpaceDay]:
    """Space id → its busy intervals on `day` as JSON, naming who holds each, and whether
    any Outlook meeting conflicts with them; one query."""
    on_spaces, space_params = space_conditions(office, spaces)
    on_bookings, booking_params = booking_conditions(office, day)
    on_conflicts, conflict_params = booking_conditions(
        office, day, alias="c", status=Booking.Status.CONFLICT
    )
    sql = (
        f"SELECT s.id, {intervals_json_sql(on_bookings, with_who=True)}, "  # noqa: S608 - fixed SQL, values are parameters
        "EXISTS(SELECT 1 FROM bookings_booking c WHERE c.space_id = s.id AND "
        f"{all_of(on_conflicts)}) FROM spaces_space s WHERE {all_of(on_spaces)}"
    )
    params = [show_subjects, viewer_id, *booking_params, *conflict_params, *space_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {pk: SpaceDay(busy, bool(conflict)) for pk, busy, conflict in cursor.fetchall()}
