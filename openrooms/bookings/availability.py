"""Who holds which space when: the busy intervals of an office's spaces on a day.

Two queries, whatever the number of spaces and bookings: the database writes each space's
intervals as a JSON array (see `availability`), which the API splices into its answer as it
is and the pages read back.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import NamedTuple

from django.db import connection

from openrooms.accounts.models import Account
from openrooms.bookings.models import Booking
from openrooms.spaces.models import Floor, Office, Space
from openrooms.spaces.office_time import day_bounds


class BusyInterval(NamedTuple):
    """A confirmed booking as availability shows it; times are ISO 8601 UTC text."""

    booking_id: int
    start_utc: str
    end_utc: str
    title: str
    mine: bool
    booker_id: int | None = None
    organizer: str = ""

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.start_utc)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.end_utc)


class SpaceSummary(NamedTuple):
    """The fields of a Space that availability needs, without building 2,000 model objects."""

    pk: int
    kind: str
    name: str
    capacity: int
    floor_id: int | None
    amenities: list[str]
    plan_x: float | None
    plan_y: float | None

    @property
    def id(self) -> int:
        return self.pk


class SpaceAvailability(NamedTuple):
    """A space and its busy intervals, kept as the JSON array the database built."""

    space: SpaceSummary
    busy_json: str

    @property
    def busy(self) -> list[BusyInterval]:
        return [
            BusyInterval(
                item["booking"], item["start"], item["end"], item["title"], item["mine"],
                item.get("booker"),
                item.get("name") or (item.get("email") or "").split("@")[0]
                or item.get("organizer", ""),
            )
            for item in json.loads(self.busy_json)
        ]


def availability(
    office: Office,
    day: dt.date,
    *,
    kind: str | None = None,
    floor: Floor | None = None,
    space: Space | None = None,
    viewer: Account | None = None,
    show_subjects: bool = True,
    with_people: bool = True,
) -> list[SpaceAvailability]:
    """Every bookable space of the office (or one space) with its busy intervals on `day`.

    Two queries, whatever the number of spaces and bookings. The database writes each space's
    intervals as a JSON array: for a whole office that is thousands of rows, and turning them
    into Python objects and back into JSON cost more than everything else together. `mine`
    is relative to `viewer`; without `with_people` the intervals name nobody.
    """
    matching: dict[str, Office | Floor | int | str | bool] = {"office": office, "bookable": True}
    if kind:
        matching["kind"] = kind
    if floor is not None:
        matching["floor"] = floor
    if space is not None:
        matching["pk"] = space.pk
    spaces = [
        SpaceSummary(*row)
        for row in Space.objects.filter(**matching)
        .order_by("kind", "name")
        .values_list("pk", "kind", "name", "capacity", "floor_id", "amenities", "plan_x", "plan_y")
    ]
    busy = busy_json_by_space(
        office,
        day,
        {
            field: value.pk if isinstance(value, Office | Floor) else value
            for field, value in matching.items()
        },
        viewer_id=viewer.pk if viewer else None,
        show_subjects=show_subjects,
        with_people=with_people,
    )
    return [SpaceAvailability(summary, busy.get(summary.pk, "[]")) for summary in spaces]


AVAILABILITY_COLUMNS = {
    "office": "s.office_id", "bookable": "s.bookable", "kind": "s.kind",
    "floor": "s.floor_id", "pk": "s.id",
}


def busy_json_by_space(
    office: Office,
    day: dt.date,
    matching: dict[str, int | str | bool],
    *,
    viewer_id: int | None,
    show_subjects: bool,
    with_people: bool,
) -> dict[int, str]:
    """Space id → JSON array of its confirmed bookings overlapping `day`, sorted by start.

    Raw SQL, because each database spells JSON aggregation its own way, and SQLite 3.40 has no
    ORDER BY inside an aggregate (it aggregates a derived table that is already ordered).
    """
    start, end = day_bounds(office, day)
    where = ["b.status = %s", "b.start < %s", 'b."end" > %s']
    where += [f"{AVAILABILITY_COLUMNS[field]} = %s" for field in matching]
    if connection.vendor == "postgresql":
        start_utc, end_utc = (
            f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
            for column in ("b.start", 'b."end"')
        )
        mine = "COALESCE(b.booker_id = %s, false)"
    else:
        start_utc, end_utc = (
            f"strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', {column})" for column in ("b.start", 'b."end"')
        )
        mine = "json(CASE WHEN b.booker_id = %s THEN 'true' ELSE 'false' END)"
    item = (
        f"'booking', b.id, 'start', {start_utc}, 'end', {end_utc}, "
        "'title', CASE WHEN %s = 1 AND NOT b.is_private THEN b.title ELSE '' END, "
        f"'mine', {mine}"
    )
    people_join = ""
    if with_people:
        item += (
            ", 'booker', b.booker_id, 'name', COALESCE(a.name, ''), "
            "'email', COALESCE(a.email, ''), 'organizer', b.organizer_name"
        )
        people_join = "LEFT JOIN accounts_account a ON a.id = b.booker_id"
    rows = (
        f"FROM bookings_booking b JOIN spaces_space s ON s.id = b.space_id {people_join} "
        f"WHERE {' AND '.join(where)}"
    )
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT b.space_id, json_agg(json_build_object({item}) ORDER BY b.start)::text "
            f"{rows} GROUP BY b.space_id"
        )
    else:
        sql = (
            "SELECT space_id, json_group_array(json(item)) FROM ("  # noqa: S608 - fixed SQL, values are parameters
            f"SELECT b.space_id, json_object({item}) AS item {rows} ORDER BY b.space_id, b.start"
            ") GROUP BY space_id"
        )
    # Adapted as the ORM would: SQLite stores naive UTC text, which an aware value's
    # "+00:00" suffix would make compare wrongly (midnight bookings on the previous day).
    adapt = connection.ops.adapt_datetimefield_value
    params = [int(show_subjects), viewer_id, Booking.Status.CONFIRMED, adapt(end), adapt(start),
              *matching.values()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def availability_of_space(
    space: Space, day: dt.date, *, show_subjects: bool = True
) -> SpaceAvailability:
    """One space's busy intervals on `day`; the day view refreshes a row with it after a booking."""
    [row] = availability(space.office, day, space=space, show_subjects=show_subjects) or [
        SpaceAvailability(
            SpaceSummary(space.pk, space.kind, space.name, space.capacity, space.floor_id,
                         space.amenities, space.plan_x, space.plan_y),
            "[]",
        )
    ]
    return row
