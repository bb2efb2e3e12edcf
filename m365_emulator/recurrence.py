"""Time zones and recurrence expansion for the emulated Outlook calendar.

Graph accepts a time zone as a Windows name ("W. Europe Standard Time"), an IANA name or "UTC"
(dateTimeTimeZone resource type). An unknown name is answered with 400
``TimeZoneNotSupportedException`` "A valid TimeZone value must be specified. The following
TimeZone value is not supported: '<name>'." (seen in microsoft-graph-docs issue #4758).

Recurrence follows Graph's patternedRecurrence (recurrencePattern + recurrenceRange resource
types): occurrences keep the series' wall-clock time in the series' own zone, so a weekly 09:00
Europe/London meeting stays at 09:00 local across a DST change while its UTC time moves.
Documented: range.startDate is the first day the pattern applies, endDate is inclusive,
numbered counts occurrences, relative patterns use index first..last of the matching weekdays,
and an absolute day past the month's end (31 in April) falls on the month's last day (EWS
DayOfMonth element). Assumed: a wall-clock time that does not exist on a spring-forward day is
read with the offset before the change; range.recurrenceTimeZone is not used (the event's zone
is, which the docs say is the default).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import GraphError

# Windows time zone names Graph accepts, mapped to IANA (CLDR windowsZones, territory 001).
WINDOWS_ZONES: dict[str, str] = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "tzone://Microsoft/Utc": "UTC",
    "Dateline Standard Time": "Etc/GMT+12",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage",
    "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix",
    "Mountain Standard Time": "America/Denver",
    "Central Standard Time": "America/Chicago",
    "Canada Central Standard Time": "America/Regina",
    "Central America Standard Time": "America/Guatemala",
    "Central Standard Time (Mexico)": "America/Mexico_City",
    "Eastern Standard Time": "America/New_York",
    "SA Pacific Standard Time": "America/Bogota",
    "Atlantic Standard Time": "America/Halifax",
    "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Buenos_Aires",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "GMT Standard Time": "Europe/London",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "W. Central Africa Standard Time": "Africa/Lagos",
    "GTB Standard Time": "Europe/Bucharest",
    "FLE Standard Time": "Europe/Kiev",
    "E. Europe Standard Time": "Europe/Chisinau",
    "Egypt Standard Time": "Africa/Cairo",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Israel Standard Time": "Asia/Jerusalem",
    "Turkey Standard Time": "Europe/Istanbul",
    "Russian Standard Time": "Europe/Moscow",
    "Arab Standard Time": "Asia/Riyadh",
    "Arabian Standard Time": "Asia/Dubai",
    "Iran Standard Time": "Asia/Tehran",
    "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Calcutta",
    "Nepal Standard Time": "Asia/Katmandu",
    "Bangladesh Standard Time": "Asia/Dhaka",
    "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Taipei Standard Time": "Asia/Taipei",
    "W. Australia Standard Time": "Australia/Perth",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "Cen. Australia Standard Time": "Australia/Adelaide",
    "AUS Central Standard Time": "Australia/Darwin",
    "E. Australia Standard Time": "Australia/Brisbane",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "Tasmania Standard Time": "Australia/Hobart",
    "New Zealand Standard Time": "Pacific/Auckland",
}

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
INDEXES = ["first", "second", "third", "fourth", "last"]
PATTERN_TYPES = {
    "daily",
    "weekly",
    "absoluteMonthly",
    "relativeMonthly",
    "absoluteYearly",
    "relativeYearly",
}
RANGE_TYPES = {"endDate", "noEnd", "numbered"}
# Expansion stops here whatever the range says, so a noEnd series cannot loop for ever.
MAX_OCCURRENCES = 20_000


def resolve_zone(name: str | None) -> tzinfo:
    """The tzinfo for a Graph time zone name (Windows, IANA or UTC); 400 when unknown."""
    if name is None or name == "":
        return UTC
    mapped = WINDOWS_ZONES.get(name, name)
    if mapped == "UTC":
        return UTC
    try:
        return ZoneInfo(mapped)
    except (ZoneInfoNotFoundError, ValueError):
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. "
            f"The following TimeZone value is not supported: '{name}'.",
        ) from None


def to_utc(local: datetime, zone: tzinfo) -> datetime:
    """A naive wall-clock time in ``zone`` as an aware UTC datetime."""
    return local.replace(tzinfo=zone).astimezone(UTC)


def bad_recurrence(message: str) -> GraphError:
    """Graph's answer to an invalid recurrence (property validation)."""
    return GraphError(400, "ErrorPropertyValidationFailure", message)


def validate(recurrence: dict) -> dict:
    """Check a patternedRecurrence and return it normalised (defaults filled in)."""
    pattern = dict(recurrence.get("pattern") or {})
    rng = dict(recurrence.get("range") or {})
    ptype = pattern.get("type")
    if ptype not in PATTERN_TYPES:
        raise bad_recurrence(f"Recurrence pattern type '{ptype}' is not valid.")
    interval = pattern.get("interval", 1)
    if not isinstance(interval, int) or interval < 1:
        raise bad_recurrence("Recurrence pattern interval must be a positive integer.")
    pattern["interval"] = interval
    days = [str(d).lower() for d in pattern.get("daysOfWeek") or []]
    if any(d not in WEEKDAYS for d in days):
        raise bad_recurrence("Recurrence pattern daysOfWeek is not valid.")
    pattern["daysOfWeek"] = days
    pattern["firstDayOfWeek"] = str(pattern.get("firstDayOfWeek") or "sunday").lower()
    pattern["index"] = str(pattern.get("index") or "first").lower()
    pattern.setdefault("month", 0)
    pattern.setdefault("dayOfMonth", 0)
    if ptype in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise bad_recurrence(f"A {ptype} recurrence pattern needs daysOfWeek.")
    if pattern["index"] not in INDEXES:
        raise bad_recurrence("Recurrence pattern index is not valid.")
    if ptype in ("absoluteMonthly", "absoluteYearly") and not 1 <= pattern["dayOfMonth"] <= 31:
        raise bad_recurrence(f"A {ptype} recurrence pattern needs dayOfMonth.")
    if ptype in ("absoluteYearly", "relativeYearly") and not 1 <= pattern["month"] <= 12:
        raise bad_recurrence(f"A {ptype} recurrence pattern needs month.")
    rtype = rng.get("type")
    if rtype not in RANGE_TYPES:
        raise bad_recurrence(f"Recurrence range type '{rtype}' is not valid.")
    try:
        start = date.fromisoformat(str(rng.get("startDate")))
        end = date.fromisoformat(str(rng["endDate"])) if rtype == "endDate" else None
    except (KeyError, ValueError):
        raise bad_recurrence("Recurrence range startDate/endDate is not a valid date.") from None
    if end is not None and end < start:
        raise bad_recurrence("Recurrence range endDate is before startDate.")
    count = rng.get("numberOfOccurrences", 0)
    if rtype == "numbered" and (not isinstance(count, int) or count < 1):
        raise bad_recurrence("Recurrence range numberOfOccurrences must be positive.")
    rng.update(
        {
            "startDate": start.isoformat(),
            "endDate": end.isoformat() if end else "0001-01-01",
            "numberOfOccurrences": count if rtype == "numbered" else 0,
            "recurrenceTimeZone": rng.get("recurrenceTimeZone") or "",
        }
    )
    return {"pattern": pattern, "range": rng}


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    total = year * 12 + (month - 1) + n
    return total // 12, total % 12 + 1


def _days_in_month(year: int, month: int) -> int:
    ny, nm = _add_months(year, month, 1)
    return (date(ny, nm, 1) - timedelta(days=1)).day


def _absolute_day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, _days_in_month(year, month)))


def _relative_day(year: int, month: int, days: list[str], index: str) -> date:
    wanted = {WEEKDAYS.index(d) for d in days}
    matches = [
        date(year, month, d)
        for d in range(1, _days_in_month(year, month) + 1)
        if date(year, month, d).weekday() in wanted
    ]
    return matches[-1] if index == "last" else matches[INDEXES.index(index)]


def _candidate_dates(pattern: dict, first: date) -> Iterator[date]:
    """Dates matching the pattern, ascending, from the range's start date on (unbounded)."""
    ptype, interval = pattern["type"], pattern["interval"]
    if ptype == "daily":
        day = first
        while True:
            yield day
            day += timedelta(days=interval)
    elif ptype == "weekly":
        wanted = sorted(
            {WEEKDAYS.index(d) for d in pattern["daysOfWeek"]},
            key=lambda wd: (wd - WEEKDAYS.index(pattern["firstDayOfWeek"])) % 7,
        )
        week_start = first - timedelta(
            days=(first.weekday() - WEEKDAYS.index(pattern["firstDayOfWeek"])) % 7
        )
        while True:
            for wd in wanted:
                day = week_start + timedelta(days=(wd - week_start.weekday()) % 7)
                if day >= first:
                    yield day
            week_start += timedelta(weeks=interval)
    elif ptype in ("absoluteMonthly", "relativeMonthly"):
        year, month = first.year, first.month
        while True:
            if ptype == "absoluteMonthly":
                day = _absolute_day(year, month, pattern["dayOfMonth"])
            else:
                day = _relative_day(year, month, pattern["daysOfWeek"], pattern["index"])
            if day >= first:
                yield day
            year, month = _add_months(year, month, interval)
    else:
        year = first.year
        while True:
            if ptype == "absoluteYearly":
                day = _absolute_day(year, pattern["month"], pattern["dayOfMonth"])
            else:
                day = _relative_day(year, pattern["month"], pattern["daysOfWeek"], pattern["index"])
            if day >= first:
                yield day
            year += interval
            if year > 9998:
                return


def occurrence_starts(
    recurrence: dict,
    start_time: time,
    zone: tzinfo,
    until: datetime,
    skip_before: date | None = None,
) -> Iterator[tuple[datetime, datetime]]:
    """(local wall-clock start, UTC start) of each occurrence, ascending, until ``until`` (UTC).

    ``start_time`` is the series' wall-clock start time in ``zone``; occurrences on local dates
    before ``skip_before`` are counted (for numbered ranges) but not yielded.
    """
    pattern, rng = recurrence["pattern"], recurrence["range"]
    first = date.fromisoformat(rng["startDate"])
    last = date.fromisoformat(rng["endDate"]) if rng["type"] == "endDate" else date.max
    limit = rng["numberOfOccurrences"] if rng["type"] == "numbered" else MAX_OCCURRENCES
    for count, day in enumerate(_candidate_dates(pattern, first)):
        if count >= limit or day > last:
            return
        if skip_before is not None and day < skip_before:
            continue
        local = datetime.combine(day, start_time)
        start = to_utc(local, zone)
        if start >= until:
            return
        yield local, start
