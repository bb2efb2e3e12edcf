"""Recurrence expansion as calendarView shows it: patterns, ranges, exceptions, DST."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from m365_emulator.calendar.render import render_event
from m365_emulator.calendar.store import CalendarStore
from m365_emulator.errors import GraphError
from m365_emulator.recurrence import resolve_zone


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def store() -> CalendarStore:
    s = CalendarStore(clock=lambda: utc(2026, 1, 1))
    s.add_mailbox("ada", "ada@contoso.com", "Ada Lovelace")
    return s


def series(store: CalendarStore, start: str, end: str, pattern: dict, rng: dict, tz="UTC") -> dict:
    return store.create_event(
        "ada",
        {
            "subject": "Series",
            "start": {"dateTime": start, "timeZone": tz},
            "end": {"dateTime": end, "timeZone": tz},
            "recurrence": {"pattern": pattern, "range": rng},
        },
    )


def starts(store: CalendarStore, start: datetime, end: datetime) -> list[str]:
    return [i["start"]["dateTime"][:16] for i in store.calendar_view("ada", start, end)]


def test_daily_with_interval_and_numbered_range(store):
    series(
        store,
        "2026-02-01T10:00:00",
        "2026-02-01T10:30:00",
        {"type": "daily", "interval": 2},
        {"type": "numbered", "startDate": "2026-02-01", "numberOfOccurrences": 4},
    )
    assert starts(store, utc(2026, 1, 1), utc(2026, 3, 1)) == [
        "2026-02-01T10:00",
        "2026-02-03T10:00",
        "2026-02-05T10:00",
        "2026-02-07T10:00",
    ]


def test_weekly_days_of_week_every_other_week_until_end_date_inclusive(store):
    series(
        store,
        "2026-02-02T09:00:00",
        "2026-02-02T10:00:00",
        {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"]},
        {"type": "endDate", "startDate": "2026-02-02", "endDate": "2026-02-16"},
    )
    assert starts(store, utc(2026, 1, 1), utc(2026, 3, 1)) == [
        "2026-02-02T09:00",
        "2026-02-05T09:00",
        "2026-02-16T09:00",
    ]


def test_weekly_week_boundaries_follow_first_day_of_week(store):
    # Start on a Sunday: with weeks starting Monday, that Sunday closes week 1, so the
    # following Saturday is in week 2 and skipped by interval 2.
    series(
        store,
        "2026-02-01T09:00:00",
        "2026-02-01T10:00:00",
        {
            "type": "weekly",
            "interval": 2,
            "daysOfWeek": ["sunday", "saturday"],
            "firstDayOfWeek": "monday",
        },
        {"type": "numbered", "startDate": "2026-02-01", "numberOfOccurrences": 3},
    )
    assert starts(store, utc(2026, 1, 1), utc(2026, 4, 1)) == [
        "2026-02-01T09:00",
        "2026-02-14T09:00",
        "2026-02-15T09:00",
    ]


def test_absolute_monthly_falls_back_to_the_last_day_of_short_months(store):
    series(
        store,
        "2026-01-31T12:00:00",
        "2026-01-31T13:00:00",
        {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
        {"type": "numbered", "startDate": "2026-01-31", "numberOfOccurrences": 3},
    )
    assert starts(store, utc(2026, 1, 1), utc(2026, 12, 1)) == [
        "2026-01-31T12:00",
        "2026-02-28T12:00",
        "2026-03-31T12:00",
    ]


def test_relative_monthly_second_tuesday_and_last_friday(store):
    series(
        store,
        "2026-01-13T08:00:00",
        "2026-01-13T09:00:00",
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"], "index": "second"},
        {"type": "numbered", "startDate": "2026-01-13", "numberOfOccurrences": 3},
    )
    series(
        store,
        "2026-01-30T16:00:00",
        "2026-01-30T17:00:00",
        {"type": "relativeMonthly", "interval": 2, "daysOfWeek": ["friday"], "index": "last"},
        {"type": "endDate", "startDate": "2026-01-30", "endDate": "2026-06-30"},
    )
    assert starts(store, utc(2026, 1, 1), utc(2026, 7, 1)) == [
        "2026-01-13T08:00",
        "2026-01-30T16:00",
        "2026-02-10T08:00",
        "2026-03-10T08:00",
        "2026-03-27T16:00",
        "2026-05-29T16:00",
    ]


def test_yearly_patterns(store):
    series(
        store,
        "2026-03-15T10:00:00",
        "2026-03-15T11:00:00",
        {"type": "absoluteYearly", "interval": 1, "month": 3, "dayOfMonth": 15},
        {"type": "noEnd", "startDate": "2026-03-15"},
    )
    series(
        store,
        "2026-11-26T10:00:00",
        "2026-11-26T11:00:00",
        {
            "type": "relativeYearly",
            "interval": 1,
            "month": 11,
            "daysOfWeek": ["thursday"],
            "index": "fourth",
        },
        {"type": "noEnd", "startDate": "2026-11-26"},
    )
    assert starts(store, utc(2027, 1, 1), utc(2028, 1, 1)) == [
        "2027-03-15T10:00",
        "2027-11-25T10:00",
    ]


def test_weekly_london_meeting_keeps_local_time_across_both_dst_changes(store):
    # UK clocks go forward on 29 March 2026 and back on 25 October 2026.
    master = series(
        store,
        "2026-03-23T09:00:00",
        "2026-03-23T10:00:00",
        {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        {"type": "noEnd", "startDate": "2026-03-23"},
        tz="Europe/London",
    )
    spring = store.calendar_view("ada", utc(2026, 3, 22), utc(2026, 4, 1))
    assert [i["start"]["dateTime"][:16] for i in spring] == ["2026-03-23T09:00", "2026-03-30T08:00"]
    autumn = store.calendar_view("ada", utc(2026, 10, 18), utc(2026, 10, 28))
    assert [i["start"]["dateTime"][:16] for i in autumn] == ["2026-10-19T08:00", "2026-10-26T09:00"]
    local = [render_event(i, timezone="Europe/London")["start"] for i in spring + autumn]
    assert {d["dateTime"][11:16] for d in local} == {"09:00"}
    assert all(i["seriesMasterId"] == master["id"] for i in spring + autumn)


def test_windows_zone_names_expand_like_their_iana_zone(store):
    series(
        store,
        "2026-10-20T14:00:00",
        "2026-10-20T15:00:00",
        {"type": "daily", "interval": 1},
        {"type": "numbered", "startDate": "2026-10-20", "numberOfOccurrences": 10},
        tz="GMT Standard Time",
    )
    found = starts(store, utc(2026, 10, 24), utc(2026, 10, 27))
    assert found == ["2026-10-24T13:00", "2026-10-25T14:00", "2026-10-26T14:00"]


def test_occurrence_ids_are_stable_and_distinct(store):
    series(
        store,
        "2026-02-02T09:00:00",
        "2026-02-02T10:00:00",
        {"type": "daily", "interval": 1},
        {"type": "numbered", "startDate": "2026-02-02", "numberOfOccurrences": 5},
    )
    first = [i["id"] for i in store.calendar_view("ada", utc(2026, 2, 1), utc(2026, 3, 1))]
    again = [i["id"] for i in store.calendar_view("ada", utc(2026, 2, 3), utc(2026, 3, 1))]
    assert len(set(first)) == 5
    assert again == first[1:]
    assert store.get_event("ada", first[2])["start"]["dateTime"].startswith("2026-02-04T09:00")


def test_patching_an_occurrence_makes_an_exception_with_the_same_id(store):
    master = series(
        store,
        "2026-02-02T09:00:00",
        "2026-02-02T10:00:00",
        {"type": "daily", "interval": 1},
        {"type": "numbered", "startDate": "2026-02-02", "numberOfOccurrences": 3},
    )
    second = store.calendar_view("ada", utc(2026, 2, 3), utc(2026, 2, 4))[0]
    moved = store.update_event(
        "ada",
        second["id"],
        {
            "subject": "Moved",
            "start": {"dateTime": "2026-02-03T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-02-03T16:00:00", "timeZone": "UTC"},
        },
    )
    assert moved["id"] == second["id"]
    view = store.calendar_view("ada", utc(2026, 2, 1), utc(2026, 3, 1))
    assert [(i["type"], i["start"]["dateTime"][11:16], i["subject"]) for i in view] == [
        ("occurrence", "09:00", "Series"),
        ("exception", "15:00", "Moved"),
        ("occurrence", "09:00", "Series"),
    ]
    assert view[1]["seriesMasterId"] == master["id"]
    assert view[1]["originalStart"] == "2026-02-03T09:00:00Z"


def test_deleting_an_occurrence_cancels_only_that_one(store):
    series(
        store,
        "2026-02-02T09:00:00",
        "2026-02-02T10:00:00",
        {"type": "daily", "interval": 1},
        {"type": "numbered", "startDate": "2026-02-02", "numberOfOccurrences": 3},
    )
    view = store.calendar_view("ada", utc(2026, 2, 1), utc(2026, 3, 1))
    store.delete_event("ada", view[1]["id"])
    after = store.calendar_view("ada", utc(2026, 2, 1), utc(2026, 3, 1))
    assert [i["id"] for i in after] == [view[0]["id"], view[2]["id"]]
    with pytest.raises(GraphError) as error:
        store.get_event("ada", view[1]["id"])
    assert error.value.code == "ErrorItemNotFound"


def test_changing_the_series_time_drops_its_exceptions(store):
    master = series(
        store,
        "2026-02-02T09:00:00",
        "2026-02-02T10:00:00",
        {"type": "daily", "interval": 1},
        {"type": "numbered", "startDate": "2026-02-02", "numberOfOccurrences": 3},
    )
    view = store.calendar_view("ada", utc(2026, 2, 1), utc(2026, 3, 1))
    store.update_event("ada", view[0]["id"], {"subject": "Special"})
    store.delete_event("ada", view[1]["id"])
    store.update_event(
        "ada",
        master["id"],
        {
            "start": {"dateTime": "2026-02-02T11:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-02-02T12:00:00", "timeZone": "UTC"},
        },
    )
    after = store.calendar_view("ada", utc(2026, 2, 1), utc(2026, 3, 1))
    assert [(i["type"], i["start"]["dateTime"][11:16]) for i in after] == [
        ("occurrence", "11:00")
    ] * 3


@pytest.mark.parametrize(
    "recurrence",
    [
        {"pattern": {"type": "hourly"}, "range": {"type": "noEnd", "startDate": "2026-02-02"}},
        {"pattern": {"type": "weekly"}, "range": {"type": "noEnd", "startDate": "2026-02-02"}},
        {"pattern": {"type": "daily"}, "range": {"type": "numbered", "startDate": "2026-02-02"}},
        {"pattern": {"type": "daily"}, "range": {"type": "endDate", "startDate": "2026-02-02"}},
        {"pattern": {"type": "daily", "interval": 0}, "range": {"type": "noEnd"}},
    ],
)
def test_invalid_recurrence_is_rejected(store, recurrence):
    with pytest.raises(GraphError) as error:
        store.create_event(
            "ada",
            {
                "start": {"dateTime": "2026-02-02T09:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2026-02-02T10:00:00", "timeZone": "UTC"},
                "recurrence": recurrence,
            },
        )
    assert error.value.status == 400


def test_time_zone_names():
    assert str(resolve_zone("W. Europe Standard Time")) == "Europe/Berlin"
    assert str(resolve_zone("Europe/London")) == "Europe/London"
    assert resolve_zone("UTC") is UTC
    with pytest.raises(GraphError) as error:
        resolve_zone("Greenwich Mean Time")
    assert error.value.code == "TimeZoneNotSupportedException"
    assert "'Greenwich Mean Time'" in error.value.message
