"""Graph's replies as the product reads them: pydantic models parsed at the boundary.

They keep only the fields we use (`extra="ignore"`). Every reply's text is read through
`reply_json` / `without_control_characters` first.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# A control character in a reply's JSON text: JSON writes them escaped (\u0000 to \u001f,
# \b, \f) except DEL, which it allows as it is. What every such escape starts with (most
# replies hold none):
MAYBE_CONTROL = ("\\u00", "\\b", "\\f", "\x7f")
# Scanned left to right, an escaped backslash is taken whole (and kept): a backslash that
# starts an escape is never mistaken for the second of a pair. Escapes of a character that
# input_checks.CONTROL_CHARACTER refuses are dropped.
# (One literal backslash first: the regular expression engine then skips to each at C speed.)
ESCAPE = re.compile(r"\\(?:(\\)|u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F])|u007[fF]|[bf])")


def without_control_characters(json_text: str) -> str:
    """Graph's JSON without the control characters its strings may carry: Outlook lets a
    subject or a name hold them (a NUL, which PostgreSQL refuses to store), and they are
    dropped rather than the meeting refused. On the text before it is parsed: checking every
    parsed string of a first sync's 770,000 events took a sixth of its workers' time."""
    if not any(mark in json_text for mark in MAYBE_CONTROL):  # str's scan, the quickest
        return json_text
    kept_or_dropped = ESCAPE.sub(lambda escape: escape[0] if escape[1] else "", json_text)
    return kept_or_dropped.replace("\x7f", "")


def reply_json(text: str) -> Any:
    """A reply's JSON, parsed without its control characters."""
    return json.loads(without_control_characters(text))


class GraphModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class EmailAddress(GraphModel):
    name: str | None = None
    address: str | None = None


class Room(GraphModel):
    """A room from the Places API (`/places/microsoft.graph.room`)."""

    id: str
    email_address: str
    display_name: str = ""
    capacity: int | None = None
    building: str | None = None
    floor_number: int | None = None
    floor_label: str | None = None
    # Older examples spell it isWheelchairAccessible.
    is_wheel_chair_accessible: bool | None = Field(
        default=None,
        validation_alias=AliasChoices("isWheelChairAccessible", "isWheelchairAccessible"),
    )
    booking_type: str | None = None
    tags: list[str] = []
    audio_device_name: str | None = None
    video_device_name: str | None = None
    display_device_name: str | None = Field(
        default=None, validation_alias=AliasChoices("displayDeviceName", "displayDevice")
    )
    nickname: str | None = None


class RoomList(GraphModel):
    id: str
    email_address: str
    display_name: str = ""


class User(GraphModel):
    id: str
    display_name: str | None = None
    user_principal_name: str | None = None
    mail: str | None = None


class DateTimeTimeZone(GraphModel):
    date_time: str
    time_zone: str = "UTC"

    @property
    def utc(self) -> dt.datetime:
        """The moment in UTC. Graph writes seven fractional digits; seconds are enough here."""
        return utc_of(self.date_time[:19], self.time_zone)


@functools.lru_cache(maxsize=16_384)  # a first sync meets the same hours in every room
def utc_of(wall_time: str, time_zone: str) -> dt.datetime:
    if time_zone == "UTC":  # what we ask for (Prefer: outlook.timezone="UTC")
        return dt.datetime.fromisoformat(wall_time).replace(tzinfo=dt.UTC)
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return dt.datetime.fromisoformat(wall_time).replace(tzinfo=zone).astimezone(dt.UTC)


class Event(GraphModel):
    """A calendar event as calendarView and POST /events return it (the fields we select)."""

    id: str
    ical_uid: str = Field(default="", alias="iCalUId")
    transaction_id: str | None = None
    subject: str | None = None
    start: DateTimeTimeZone
    end: DateTimeTimeZone
    is_cancelled: bool = False
    show_as: str | None = None


class ResponseStatus(GraphModel):
    response: str | None = None


class Attendee(GraphModel):
    type: str | None = None
    status: ResponseStatus | None = None
    email_address: EmailAddress | None = None


class Recipient(GraphModel):
    email_address: EmailAddress | None = None


class CalendarInstance(GraphModel):
    """An instance as calendarView/delta reports it, or its removal.

    Delta ignores `$select` (the contract, section 4), so Graph sends whole events: this model
    keeps only what the inbound sync needs and the raw JSON (body, attendees, location, online
    meeting links...) is dropped while the page is parsed.
    """

    id: str
    removed: dict[str, Any] | None = Field(default=None, alias="@removed")
    ical_uid: str = Field(default="", alias="iCalUId")
    transaction_id: str | None = None
    subject: str | None = None
    start: DateTimeTimeZone | None = None
    end: DateTimeTimeZone | None = None
    is_cancelled: bool = False
    show_as: str | None = None
    sensitivity: str | None = None
    type: str | None = None
    series_master_id: str | None = None
    organizer: Recipient | None = None

    @property
    def is_removed(self) -> bool:
        return self.removed is not None


class CalendarItem(CalendarInstance):
    """An event with its attendees' answers (to learn what a room answered)."""

    attendees: list[Attendee] = []

    def response_of(self, mailbox: str) -> str | None:
        """What the attendee `mailbox` answered (accepted, declined, none...), if invited."""
        for attendee in self.attendees:
            address = (attendee.email_address.address or "") if attendee.email_address else ""
            if address.lower() == mailbox.lower():
                return attendee.status.response if attendee.status else None
        return None


class DeltaPageBody(GraphModel):
    """A calendarView/delta answer, parsed straight from its bytes: a page of a full sync holds
    hundreds of whole events, and most of their JSON is never turned into Python objects."""

    value: list[CalendarInstance] = []
    next_link: str | None = Field(default=None, alias="@odata.nextLink")
    delta_link: str | None = Field(default=None, alias="@odata.deltaLink")


@dataclass
class DeltaPage:
    items: list[CalendarInstance]
    # On the last page of a round only: where the next round starts.
    delta_link: str | None


class Subscription(GraphModel):
    """A change-notification subscription as POST and PATCH /subscriptions answer it."""

    id: str
    resource: str = ""
    expiration_date_time: dt.datetime
    client_state: str | None = None
