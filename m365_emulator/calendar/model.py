"""The calendar's data: mailbox and room-policy records, stored items' times, ids and copies."""

from __future__ import annotations

import base64
import marshal
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

NO_TIME = "0001-01-01T00:00:00Z"
ID_PREFIX = "AAMkAG"


@dataclass
class RoomPolicy:
    """A room's Set-CalendarProcessing settings, Exchange Online defaults."""

    auto_accept: bool = True  # AutomateProcessing=AutoAccept (False: AutoUpdate)
    allow_conflicts: bool = False
    booking_window_days: int = 180
    max_duration_minutes: int = 1440
    delete_subject: bool = True
    add_organizer_to_subject: bool = True
    remove_canceled_meetings: bool = False
    delete_comments: bool = True
    remove_private_property: bool = True
    allow_recurring_meetings: bool = True
    enforce_scheduling_horizon: bool = True


@dataclass
class Mailbox:
    """One mailbox's calendar: its items by id and the transactionIds already used."""

    user_id: str
    email: str
    display_name: str
    policy: RoomPolicy | None
    items: dict[str, dict]
    transactions: dict[str, str]


def clone(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars), which is all an item holds: what
    copy.deepcopy gives for it, done in C and ten times faster (a full sync of a busy room
    copies hundreds of instances). marshal refuses anything that is not such data."""
    return marshal.loads(marshal.dumps(value))  # noqa: S302 - bytes made the line before


def utc_now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def stamp(moment: datetime) -> str:
    """Graph's timestamp format: seven fractional digits and Z."""
    moment = aware(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def wall(local: datetime) -> str:
    """Graph's dateTimeTimeZone.dateTime format."""
    return local.strftime("%Y-%m-%dT%H:%M:%S.0000000")


def parse_wall(text: str) -> datetime:
    """A dateTime as clients send it: naive, with Z, an offset or up to 7 fractional digits."""
    value = text.strip().replace("Z", "+00:00")
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    return datetime.fromisoformat(value)


def utc_of(when: dict) -> datetime:
    """An instant stored as {"dateTime": UTC wall clock, "timeZone": "UTC"}."""
    return datetime.fromisoformat(when["dateTime"][:19]).replace(tzinfo=UTC)


def new_id() -> str:
    return ID_PREFIX + base64.urlsafe_b64encode(b"\x00" + secrets.token_bytes(50)).decode()


def address_of(mailbox: Mailbox) -> dict:
    return {"emailAddress": {"name": mailbox.display_name, "address": mailbox.email}}
