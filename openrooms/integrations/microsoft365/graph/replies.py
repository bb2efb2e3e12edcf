"""Graph's replies as the product reads them: pydantic models parsed at the boundary.

They keep only the fields we use (`extra="ignore"`)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from openrooms.input_checks import CONTROL_CHARACTER


class GraphModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def without_control_characters(cls, value: Any) -> Any:
        """Outlook lets a subject or a name carry control characters (a NUL, which PostgreSQL
        refuses to store); they are dropped here rather than the meeting refused."""
        if isinstance(value, str):
            return CONTROL_CHARACTER.sub("", value)
        if isinstance(value, list):
            return [CONTROL_CHARACTER.sub("", item) if isinstance(item, str) else item
                    for item in value]
        return value


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
        if self.time_zone == "UTC":  # what we ask for (Prefer: outlook.timezone="UTC")
            return dt.datetime.fromisoformat(self.date_time[:19]).replace(tzinfo=dt.UTC)
        try:
            zone: dt.tzinfo = zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = dt.UTC
        wall = dt.datetime.fromisoformat(self.date_time[:19])
        return wall.replace(tzinfo=zone).astimezone(dt.UTC)


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
