"""A mailbox's instances: series expanded into occurrences, occurrence ids, instances in a window.

- An occurrence's id is derived from (master id, original start), so it is stable; a stored
  exception keeps that id.
- calendarView lists an instance when start < endDateTime and end >= startDateTime: Graph
  also returns events that end exactly at startDateTime (reported in microsoft-graph-docs-contrib
  issue #387 and msgraph-sdk-php issue #258), so clients must filter the boundary themselves.
"""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime, timedelta

from .. import recurrence as rec
from ..errors import GraphError
from .model import ID_PREFIX, Mailbox, stamp, utc_of, wall


def occurrence_id(master_id: str, original_start: datetime) -> str:
    raw = b"\x01" + struct.pack(">q", int(original_start.timestamp())) + master_id.encode()
    return ID_PREFIX + base64.urlsafe_b64encode(raw).decode()


def split_occurrence_id(event_id: str) -> tuple[str, datetime] | None:
    if not event_id.startswith(ID_PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(event_id[len(ID_PREFIX) :])
    except ValueError:
        return None
    if len(raw) < 10 or raw[0] != 1:
        return None
    (seconds,) = struct.unpack(">q", raw[1:9])
    try:
        return raw[9:].decode(), datetime.fromtimestamp(seconds, UTC)
    except (UnicodeDecodeError, ValueError, OverflowError):
        return None


def _not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def occurrences_of(master: dict, until: datetime, after: datetime | None = None) -> list[dict]:
    """The series' occurrences starting before ``until`` (and ending at or after ``after``),
    cancelled ones left out. Their nested values (attendees, body...) are the master's
    own: a caller that keeps or changes an occurrence clones it first."""
    zone = rec.resolve_zone(master["originalStartTimeZone"])
    end_zone = rec.resolve_zone(master["originalEndTimeZone"])
    master_start = utc_of(master["start"]).astimezone(zone).replace(tzinfo=None)
    master_end = utc_of(master["end"]).astimezone(end_zone).replace(tzinfo=None)
    length = master_end - master_start  # wall-clock length, kept across DST changes
    cancelled = set(master.get("_cancelled") or [])
    shared = {k: v for k, v in master.items() if not k.startswith("_")}
    occurrences = []
    # Dates that cannot reach ``after`` are skipped cheaply (a day of margin for zones).
    skip = (after - length - timedelta(days=2)).date() if after is not None else None
    for local, start in rec.occurrence_starts(
        master["recurrence"], master_start.time(), zone, until, skip
    ):
        end = rec.to_utc(local + length, end_zone)
        if (after is not None and end < after) or stamp(start) in cancelled:
            continue
        occurrence = dict(shared)  # nested values stay the master's: see the docstring
        occurrence.update(
            {
                "id": occurrence_id(master["id"], start),
                "type": "occurrence",
                "seriesMasterId": master["id"],
                "recurrence": None,
                "transactionId": None,
                "originalStart": stamp(start).replace(".0000000Z", "Z"),
                "start": {"dateTime": wall(start.replace(tzinfo=None)), "timeZone": "UTC"},
                "end": {"dateTime": wall(end.replace(tzinfo=None)), "timeZone": "UTC"},
                "_seq": master["_seq"],
            }
        )
        occurrences.append(occurrence)
    return occurrences


def instances_of(
    mailbox: Mailbox,
    item: dict,
    start: datetime,
    end: datetime,
    *,
    tombstone: bool = False,
) -> list[dict]:
    """The instances of one stored item overlapping [start, end)."""
    if item["type"] == "seriesMaster":
        candidates = [
            o
            for o in occurrences_of(item, end, start)
            if tombstone or o["id"] not in mailbox.items
        ]
    elif item["type"] == "exception" and not tombstone:
        if item["seriesMasterId"] not in mailbox.items:
            return []
        candidates = [item]
    else:
        candidates = [item]
    # Graph also lists an event that ends exactly at startDateTime (see the module notes).
    return [c for c in candidates if utc_of(c["start"]) < end and utc_of(c["end"]) >= start]


def instances_in(mailbox: Mailbox, start: datetime, end: datetime) -> list[dict]:
    """Every instance in the mailbox overlapping [start, end) (masters not listed), by start."""
    instances = []
    for item in mailbox.items.values():
        instances.extend(instances_of(mailbox, item, start, end))
    return sorted(instances, key=lambda i: (i["start"]["dateTime"], i["id"]))


def find_instance(mailbox: Mailbox, event_id: str) -> dict:
    """A stored item, or the occurrence the id names (404 ErrorItemNotFound otherwise)."""
    item = mailbox.items.get(event_id)
    if item is not None:
        return item
    parts = split_occurrence_id(event_id)
    if parts is None or parts[0] not in mailbox.items:
        raise _not_found()
    master = mailbox.items[parts[0]]
    if master["type"] != "seriesMaster":
        raise _not_found()
    for occurrence in occurrences_of(master, parts[1] + timedelta(seconds=1), parts[1]):
        if occurrence["id"] == event_id:
            return occurrence
    raise _not_found()
