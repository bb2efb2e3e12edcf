"""What the product accepts at its edges: days, instants, UTC offsets and text both databases store.

The API's schemas (the pydantic types below), the forms (`openrooms.forms.TextChecks`) and the
pages' JSON endpoints (`parse_day`, `text_problem`) all check here, so a value is refused the same
way on SQLite and PostgreSQL, before either engine (or Python's date arithmetic) sees it:

- days from 0001-01-02 to 9999-12-30: one day inside Python's range at each end, so a day's
  bounds in any office's time zone, and the day before and after, can always be computed;
- instants with a UTC offset from -12:00 to +14:00 (the offsets in use; PostgreSQL refuses
  beyond ±15:59) whose UTC day is such a day;
- text without control characters other than tab, line feed and carriage return (PostgreSQL
  refuses NUL; the others are never typed and only hide what a value says).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from pydantic import AfterValidator, BeforeValidator, Field

EARLIEST_DAY = dt.date(1, 1, 2)
LATEST_DAY = dt.date(9999, 12, 30)
EARLIEST_OFFSET = dt.timedelta(hours=-12)
LATEST_OFFSET = dt.timedelta(hours=14)
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
WITHOUT_CONTROL_CHARACTERS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

DAY_FORMAT = "Dates look like 2026-03-31"
INSTANT_FORMAT = "Give an ISO 8601 date and time with its UTC offset, e.g. 2026-03-31T09:00:00Z"


class BadInput(ValueError):
    """A request value that cannot be read as what it must be; `field` names it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def day_problem(day: dt.date) -> str | None:
    if EARLIEST_DAY <= day <= LATEST_DAY:
        return None
    return f"Use a date from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}."


def instant_problem(value: dt.datetime) -> str | None:
    offset = value.utcoffset()
    if offset is None:
        return f"{INSTANT_FORMAT}."
    if not EARLIEST_OFFSET <= offset <= LATEST_OFFSET:
        return "A UTC offset must be from -12:00 to +14:00."
    try:
        utc_day = (value.replace(tzinfo=None) - offset).date()
    except OverflowError:
        return day_problem(dt.date.max)
    return day_problem(utc_day)


def text_problem(value: str) -> str | None:
    if CONTROL_CHARACTER.search(value):
        return "Control characters (such as NUL) are not accepted."
    return None


def parse_day(text: str, *, field: str = "date") -> dt.date:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{DAY_FORMAT}.", field=field) from None
    message = day_problem(day)
    if message:
        raise BadInput(message, field=field)
    return day


# The API's types read ISO 8601 strings only: pydantic alone also reads numbers, and strings of
# digits, as Unix times.


def read_iso(value: object, parse: Callable[[str], Any], kind: type, message: str) -> object:
    if isinstance(value, str):
        try:
            return parse(value)
        except ValueError:
            raise ValueError(message) from None
    # A date is no datetime, but a datetime is a date: only the exact kind passes as it is.
    if type(value) is kind:
        return value
    raise ValueError(message)


read_iso_instant = partial(read_iso, parse=dt.datetime.fromisoformat, kind=dt.datetime,
                           message=f"{INSTANT_FORMAT}.")
read_iso_day = partial(read_iso, parse=dt.date.fromisoformat, kind=dt.date,
                       message=f"{DAY_FORMAT}.")


def as_validator(problem: Callable[[Any], str | None]) -> AfterValidator:
    def validate(value: Any) -> Any:
        message = problem(value)
        if message:
            raise ValueError(message)
        return value

    return AfterValidator(validate)


Instant = Annotated[
    dt.datetime, BeforeValidator(read_iso_instant), as_validator(instant_problem),
    Field(description=f"{INSTANT_FORMAT}; offsets from -12:00 to +14:00."),
]
Day = Annotated[dt.date, BeforeValidator(read_iso_day), as_validator(day_problem)]
Text = Annotated[
    str, as_validator(text_problem),
    Field(json_schema_extra={"pattern": WITHOUT_CONTROL_CHARACTERS}),
]


# The forms' checks.


def validate_day(day: dt.date) -> None:
    message = day_problem(day)
    if message:
        raise ValidationError(message, code="day_out_of_range")


def validate_text(value: object) -> None:
    message = isinstance(value, str) and text_problem(value)
    if message:
        raise ValidationError(message, code="control_characters")
