"""The emulator's calendar engine: Exchange mailboxes' calendars in memory, no HTTP.

The HTTP layer resolves ``{id|userPrincipalName}`` to a user id and calls ``CalendarStore``;
every method is thread-safe (one RLock) and ``on_change`` is called outside the lock.

Behaviour, and where it comes from (Graph docs = learn.microsoft.com/graph/api/...):
- Items are kept canonical: Graph field names, start/end in UTC, the zone the client used kept
  in originalStartTimeZone/originalEndTimeZone; ``render`` shapes the answer in any zone.
- Series: one seriesMaster item; occurrences are computed (recurrence.py) with ids derived from
  (master id, original start), so they are stable; PATCH of an occurrence stores an exception
  under the same id, DELETE of an occurrence records it as cancelled (event-update, event-delete,
  event-cancel: "cancel an occurrence ... by providing the occurrence event ID"). Changing a
  series' time or pattern drops its exceptions (Outlook warns that they are lost; assumed).
- transactionId: a POST repeating a transactionId already used in that mailbox returns the
  original event unchanged (the duplicate answer is undocumented; graph-contract.md section 3).
- cancel: organizer only, else 400 with event-cancel's documented message; the code
  ``ErrorInvalidRequest`` is assumed. Cancel and organizer DELETE remove the organizer's item
  (event-cancel: "moves the event to the Deleted Items folder") and send a cancellation to the
  rooms invited.
- Resource Booking Assistant (Set-CalendarProcessing): a room invited as a ``resource`` attendee
  processes the request ``rba_delay_seconds`` later. AutoAccept checks MaximumDurationInMinutes
  (every instance), BookingWindowInDays (the first instance's start) and, unless
  AllowConflicts, overlap with the room's items that are not cancelled and not showAs free
  (every instance up to the end of the booking window; the series is declined if any
  conflicts, as MaximumConflictInstances and ConflictPercentageAllowed default to 0). Accepted:
  a copy lands in the room calendar (same iCalUId, organizer = the booker, subject per
  DeleteSubject/AddOrganizerToSubject, body emptied per DeleteComments, private flag cleared per
  RemovePrivateProperty, all defaults true) and the organizer's attendee entry
  becomes accepted. Declined: no copy (an existing copy is removed) and the entry says declined.
  A series is declined when AllowRecurringMeetings is false, and when it runs past the window
  (noEnd included) while EnforceSchedulingHorizon is true, the default; with it false the room's
  copy is cut at the window. MaximumDurationInMinutes 0 means unlimited, BookingWindowInDays 0
  today. Not modelled: MaximumConflictInstances/ConflictPercentageAllowed above 0, delegates,
  BookInPolicy lists, external organizers.
- AutomateProcessing=AutoUpdate (``auto_accept=False``): the Calendar Attendant puts the request
  in the room calendar as tentative and nobody answers, so the organizer sees ``none`` (assumed).
- A cancelled meeting reaches the room: deleted if RemoveCanceledMeetings, else kept with
  isCancelled true, showAs free and the subject prefixed "Canceled: " as Outlook does (the
  prefix is assumed); it is no longer busy.
- Any organizer update is sent to the room again and re-processed; a change of time or pattern
  resets the room's response to ``none`` until then (assumed, as Outlook resets responses).
  A room removed from the attendees gets a cancellation.
- Only room mailboxes of this store receive copies of meetings; other attendees' calendars are
  not modelled. An attendee (a room) may PATCH or DELETE its own copy: the change stays local and
  nothing is sent to the organizer (a Graph DELETE sends no response).
- All-day events float: they render at midnight of their own dates in whatever zone is asked
  (assumed from Outlook's behaviour).
- calendarView lists an instance when start < endDateTime and end >= startDateTime: Graph
  also returns events that end exactly at startDateTime (reported in microsoft-graph-docs-contrib
  issue #387 and msgraph-sdk-php issue #258), so clients must filter the boundary themselves.
- iCalUId is shared by the organizer's event and the room's copy, and by every instance of a
  series: the event resource page says it differs per occurrence, but Microsoft's 2020 "iCalUId
  update" and microsoft-graph-docs issue #17479 report one value per series, as observed.
- Delta: every stored change bumps a store-wide sequence number; an instance is reported when its
  item changed after the cursor, and ``@removed`` when an instance that existed (in the window)
  in an earlier version is gone from the window now. Replays are possible, as in Graph.
"""

from __future__ import annotations

import base64
import copy
import marshal
import re
import secrets
import struct
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from . import recurrence as rec
from .errors import GraphError

FREE_BUSY = {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"}
SENSITIVITIES = {"normal", "personal", "private", "confidential"}
IMPORTANCES = {"low", "normal", "high"}
ATTENDEE_TYPES = {"required", "optional", "resource"}
NO_TIME = "0001-01-01T00:00:00Z"
ID_PREFIX = "AAMkAG"
# iCalUId: Outlook's Global Object ID (class id, instance date left zero, then a random uid).
GOID_CLASS = "040000008200E00074C5B7101A82E008"
# Tombstones kept for delta; a cursor older than the oldest one gets 410 (resync).
HISTORY_LIMIT = 50_000
HISTORY_TRIM = 1_000

# Fields a client may set, as Graph names them, with the default of a new event.
WRITABLE_DEFAULTS: dict[str, object] = {
    "subject": "",
    "body": {"contentType": "text", "content": ""},
    "importance": "normal",
    "sensitivity": "normal",
    "showAs": "busy",
    "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"},
    "locations": [],
    "categories": [],
    "isOnlineMeeting": False,
    "onlineMeetingProvider": "unknown",
    "isReminderOn": True,
    "reminderMinutesBeforeStart": 15,
    "responseRequested": True,
    "allowNewTimeProposals": True,
    "hideAttendees": False,
}
TIME_FIELDS = ("start", "end", "isAllDay", "recurrence")

# Later than any series of this emulator can reach, to find where a bounded series ends.
FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)

ChangeCallback = Callable[[str, str, str], None]


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
class _Mailbox:
    user_id: str
    email: str
    display_name: str
    policy: RoomPolicy | None
    items: dict[str, dict]
    transactions: dict[str, str]


def _clone(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars), which is all an item holds: what
    copy.deepcopy gives for it, done in C and ten times faster (a full sync of a busy room
    copies hundreds of instances). marshal refuses anything that is not such data."""
    return marshal.loads(marshal.dumps(value))  # noqa: S302 - bytes made the line before


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    """Graph's timestamp format: seven fractional digits and Z."""
    moment = _aware(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def _wall(local: datetime) -> str:
    """Graph's dateTimeTimeZone.dateTime format."""
    return local.strftime("%Y-%m-%dT%H:%M:%S.0000000")


def _parse_wall(text: str) -> datetime:
    """A dateTime as clients send it: naive, with Z, an offset or up to 7 fractional digits."""
    value = text.strip().replace("Z", "+00:00")
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    return datetime.fromisoformat(value)


def _utc_of(when: dict) -> datetime:
    """An instant stored as {"dateTime": UTC wall clock, "timeZone": "UTC"}."""
    return datetime.fromisoformat(when["dateTime"][:19]).replace(tzinfo=UTC)


def _new_id() -> str:
    return ID_PREFIX + base64.urlsafe_b64encode(b"\x00" + secrets.token_bytes(50)).decode()


def _occurrence_id(master_id: str, original_start: datetime) -> str:
    raw = b"\x01" + struct.pack(">q", int(original_start.timestamp())) + master_id.encode()
    return ID_PREFIX + base64.urlsafe_b64encode(raw).decode()


def _split_occurrence_id(event_id: str) -> tuple[str, datetime] | None:
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


def _new_ical_uid() -> str:
    return GOID_CLASS + "00000000" + "0" * 32 + "10000000" + secrets.token_hex(16).upper()


def _not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def _invalid(message: str = "At least one property failed validation.") -> GraphError:
    return GraphError(400, "ErrorPropertyValidationFailure", message)


def _enum(value: object, allowed: set[str], type_name: str) -> str:
    # Graph reads enum members case-insensitively (assumed) and answers in camelCase.
    canonical = {name.lower(): name for name in allowed}
    if str(value).lower() not in canonical:
        # What Graph's OData reader says about a bad enum literal.
        raise GraphError(
            400,
            "RequestBodyRead",
            f"Cannot convert the literal '{value}' to the expected type "
            f"'microsoft.graph.{type_name}'.",
        )
    return canonical[str(value).lower()]


def _preview(body: dict) -> str:
    if not body.get("content"):
        return ""
    text = re.sub(r"<[^>]*>", " ", str(body.get("content") or ""))
    return re.sub(r"\s+", " ", text).strip()[:255]


def _normalise_attendees(attendees: object) -> list[dict]:
    if not isinstance(attendees, list):
        raise _invalid()
    result = []
    for attendee in attendees:
        if not isinstance(attendee, dict):
            raise _invalid()
        email = attendee.get("emailAddress") or {}
        if not email.get("address"):
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        result.append(
            {
                "type": _enum(attendee.get("type", "required"), ATTENDEE_TYPES, "attendeeType"),
                # Only the attendee answers: a status sent by the organizer is not kept.
                "status": {"response": "none", "time": NO_TIME},
                "emailAddress": {
                    "name": email.get("name") or email["address"],
                    "address": email["address"],
                },
            }
        )
    return result


class CalendarStore:
    """Mailboxes' calendars, the Resource Booking Assistant and the change log for delta."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _utc_now,
        rba_delay_seconds: float = 2.0,
        on_change: ChangeCallback | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._rba_delay = timedelta(seconds=rba_delay_seconds)
        self._on_change = on_change
        self._mailboxes: dict[str, _Mailbox] = {}
        self._by_email: dict[str, str] = {}
        self._seq = 0
        self._history: list[tuple[int, str, dict]] = []  # (seq, user id, item before change)
        self._history_floor = 0
        self._rba_queue: list[dict] = []
        self._notes: list[tuple[str, str, str]] = []

    # ----- public API -------------------------------------------------------------------

    def add_mailbox(
        self, user_id: str, email: str, display_name: str, *, room_policy: RoomPolicy | None = None
    ) -> None:
        """Register a mailbox; one with a room policy is a room mailbox."""
        with self._lock:
            existing = self._mailboxes.get(user_id)
            items = existing.items if existing else {}
            transactions = existing.transactions if existing else {}
            self._mailboxes[user_id] = _Mailbox(
                user_id, email, display_name, room_policy, items, transactions
            )
            self._by_email[email.lower()] = user_id

    def set_room_policy(self, user_id: str, policy: RoomPolicy | None) -> None:
        """Change a mailbox's calendar processing (Set-CalendarProcessing)."""
        with self._lock:
            self._mailbox(user_id).policy = policy

    def room_policy(self, user_id: str) -> RoomPolicy | None:
        """The mailbox's calendar processing, None for a user mailbox."""
        with self._lock:
            return self._mailbox(user_id).policy

    def create_event(self, user_id: str, payload: dict, *, event_id: str | None = None) -> dict:
        """POST /users/{id}/events: store the event with this mailbox as organizer."""
        with self._lock:
            result = _clone(self._create_event(user_id, payload, event_id))
            notes = self._drain()
        self._emit(notes)
        return result

    def seed_event(self, user_id: str, payload: dict) -> dict:
        """An item as it already sits in a calendar (fixtures): no RBA, organizer as given.

        A payload whose organizer is another address becomes a meeting this mailbox has
        accepted, the way a room's calendar holds what its assistant accepted.
        """
        with self._lock:
            result = _clone(self._seed_event(user_id, payload))
            notes = self._drain()
        self._emit(notes)
        return result

    def seed_events(self, user_id: str, payloads: list[dict]) -> int:
        """`seed_event` for many items at once (generated fixtures): one lock, no copies
        returned, no change notifications (nobody can have subscribed yet)."""
        with self._lock:
            for payload in payloads:
                self._seed_event(user_id, payload)
            self._notes = []
        return len(payloads)

    def list_events(self, user_id: str) -> list[dict]:
        """GET /users/{id}/events: single events and series masters, not their instances."""
        with self._lock:
            items = self._mailbox(user_id).items.values()
            listed = [i for i in items if i["type"] in ("singleInstance", "seriesMaster")]
            return _clone(sorted(listed, key=lambda i: i["createdDateTime"]))

    def get_event(self, user_id: str, event_id: str) -> dict:
        """GET /users/{id}/events/{id}: a stored item or an occurrence."""
        with self._lock:
            return _clone(self._find_instance(self._mailbox(user_id), event_id))

    def update_event(self, user_id: str, event_id: str, patch: dict) -> dict:
        """PATCH semantics; patching an occurrence turns it into an exception."""
        with self._lock:
            result = _clone(self._update_event(user_id, event_id, patch))
            notes = self._drain()
        self._emit(notes)
        return result

    def delete_event(self, user_id: str, event_id: str) -> None:
        """DELETE: the organizer's delete also cancels the meeting for the rooms invited."""
        with self._lock:
            self._delete_event(user_id, event_id)
            notes = self._drain()
        self._emit(notes)

    def cancel_event(self, user_id: str, event_id: str, comment: str | None) -> None:
        """POST .../cancel: organizer only (400 otherwise), then as an organizer's delete."""
        with self._lock:
            mailbox = self._mailbox(user_id)
            instance = self._find_instance(mailbox, event_id)
            if not instance.get("isOrganizer"):
                raise GraphError(
                    400,
                    "ErrorInvalidRequest",
                    "Your request can't be completed. You need to be an organizer to cancel "
                    "a meeting.",
                )
            self._delete_event(user_id, event_id)
            notes = self._drain()
        self._emit(notes)

    def calendar_view(self, user_id: str, start: datetime, end: datetime) -> list[dict]:
        """Every instance in the window (series expanded, masters not listed), by start.

        As Graph does, that includes an instance ending exactly at ``start``.
        """
        with self._lock:
            mailbox = self._mailbox(user_id)
            return _clone(self._view(mailbox, _aware(start), _aware(end)))

    def instance_count(self, user_id: str, start: datetime, end: datetime) -> int:
        """How many instances calendar_view would list (for benchmarks; nothing copied)."""
        with self._lock:
            return len(self._view(self._mailbox(user_id), _aware(start), _aware(end)))

    def delta_changes(
        self, user_id: str, start: datetime, end: datetime, since: int | None
    ) -> tuple[list[dict], int]:
        """calendarView/delta: (instances changed or removed since ``since``, new cursor)."""
        with self._lock:
            return _clone(self._delta_changes(user_id, start, end, since)[0]), self._seq

    def delta_page(
        self, user_id: str, start: datetime, end: datetime, since: int | None, *,
        size: int, encode: Callable[[list[dict]], str],
    ) -> tuple[str, list[dict], int]:
        """`delta_changes` with its first ``size`` items handed to ``encode`` while the lock is
        held, so they are not copied: (what encode made of them, copies of the rest, cursor).
        A full sync of a busy room is hundreds of instances; copying them was a fifth of the
        emulator's time."""
        with self._lock:
            items, cursor = self._delta_changes(user_id, start, end, since)
            return encode(items[:size]), _clone(items[size:]), cursor

    def _delta_changes(
        self, user_id: str, start: datetime, end: datetime, since: int | None
    ) -> tuple[list[dict], int]:
        """delta_changes without copies: the items are the store's own (lock held)."""
        mailbox = self._mailbox(user_id)
        start, end = _aware(start), _aware(end)
        current = self._view(mailbox, start, end)
        if since is None:
            return current, self._seq
        if since < self._history_floor:
            # Outlook evicts old delta tokens from a bounded cache: 410 Gone, sync again
            # (same code and message as the HTTP layer's delta.py).
            raise GraphError(
                410,
                "SyncStateNotFound",
                "The sync state generation is no longer valid. Start a full sync again.",
            )
        items = [i for i in current if i["_seq"] > since]
        present = {i["id"] for i in current}
        removed: dict[str, None] = {}  # ordered set
        for seq, owner, before in self._history:
            if seq <= since or owner != user_id:
                continue
            for old in self._instances_of(mailbox, before, start, end, tombstone=True):
                if old["id"] not in present:
                    removed[old["id"]] = None
        items = items + [
            {
                "@odata.type": "#microsoft.graph.event",
                "id": i,
                "@removed": {"reason": "deleted"},
            }
            for i in removed
        ]
        return items, self._seq

    def render(
        self, event: dict, *, timezone: str = "UTC", select: list[str] | None = None
    ) -> dict:
        """An event or instance as Graph's JSON, times in ``timezone``; $select keeps id+etag.

        The answer shares nested values with ``event``, which must be the caller's own copy
        (every public method of the store returns copies)."""
        zone = rec.resolve_zone(timezone)
        utc = zone is UTC
        label = timezone or "UTC"
        if "@removed" in event:
            return dict(event)
        own_zone = rec.resolve_zone(event.get("originalStartTimeZone"))

        def when(value: dict) -> dict:
            if utc and not event.get("isAllDay"):
                return {"dateTime": value["dateTime"], "timeZone": label}  # stored in UTC
            moment = _utc_of(value)
            if event.get("isAllDay"):
                # All-day events float: the same dates whatever zone is asked for.
                local = moment.astimezone(own_zone).replace(tzinfo=None)
            else:
                local = moment.astimezone(zone).replace(tzinfo=None)
            return {"dateTime": _wall(local), "timeZone": label}

        body = event.get("body") or {}
        shaped = {
            "@odata.etag": f'W/"{event["changeKey"]}"',
            "id": event["id"],
            "createdDateTime": event["createdDateTime"],
            "lastModifiedDateTime": event["lastModifiedDateTime"],
            "changeKey": event["changeKey"],
            "categories": list(event.get("categories") or []),
            "transactionId": event.get("transactionId"),
            "originalStartTimeZone": event.get("originalStartTimeZone"),
            "originalEndTimeZone": event.get("originalEndTimeZone"),
            "iCalUId": event["iCalUId"],
            "reminderMinutesBeforeStart": event.get("reminderMinutesBeforeStart", 15),
            "isReminderOn": event.get("isReminderOn", True),
            "hasAttachments": False,
            "subject": event.get("subject", ""),
            "bodyPreview": _preview(body),
            "importance": event.get("importance", "normal"),
            "sensitivity": event.get("sensitivity", "normal"),
            "isAllDay": bool(event.get("isAllDay")),
            "isCancelled": bool(event.get("isCancelled")),
            "isOrganizer": bool(event.get("isOrganizer")),
            "responseRequested": event.get("responseRequested", True),
            "seriesMasterId": event.get("seriesMasterId"),
            "showAs": event.get("showAs", "busy"),
            "type": event["type"],
            "webLink": "https://outlook.office365.com/owa/?itemid="
            + event["id"]
            + "&exvsurl=1&path=/calendar/item",
            "onlineMeetingUrl": None,
            "isOnlineMeeting": bool(event.get("isOnlineMeeting")),
            "onlineMeetingProvider": event.get("onlineMeetingProvider", "unknown"),
            "allowNewTimeProposals": event.get("allowNewTimeProposals", True),
            "isDraft": False,
            "hideAttendees": event.get("hideAttendees", False),
            "originalStart": event.get("originalStart"),
            "responseStatus": event.get("responseStatus"),
            "body": {
                "contentType": body.get("contentType", "text"),
                "content": body.get("content", ""),
            },
            "start": when(event["start"]),
            "end": when(event["end"]),
            "location": event.get("location"),
            "locations": event.get("locations") or [],
            "recurrence": event.get("recurrence"),
            "attendees": event.get("attendees") or [],
            "organizer": event.get("organizer"),
            "onlineMeeting": None,
        }
        if shaped["originalStart"] is None:
            del shaped["originalStart"]
        if select:
            wanted = {name.strip().lower() for name in select}
            return {
                key: value
                for key, value in shaped.items()
                if key in ("@odata.etag", "id") or key.lower() in wanted
            }
        return shaped

    def run_due_rba(self) -> int:
        """Process the Resource Booking Assistant's due work; returns how many were processed."""
        with self._lock:
            now = self._now()
            due = [entry for entry in self._rba_queue if entry["due"] <= now]
            self._rba_queue = [entry for entry in self._rba_queue if entry["due"] > now]
            for entry in due:
                if entry["kind"] == "request":
                    self._process_request(entry["organizer"], entry["event_id"], entry["room"])
                else:
                    self._process_cancel(entry["room"], entry["event_id"])
            notes = self._drain()
        self._emit(notes)
        return len(due)

    def pending_rba(self) -> int:
        """How many Resource Booking Assistant items wait (for the control API and tests)."""
        with self._lock:
            return len(self._rba_queue)

    def mailbox_events(self, user_id: str) -> list[dict]:
        """The mailbox's stored items (masters, exceptions, single events), by start."""
        with self._lock:
            items = self._mailbox(user_id).items.values()
            return _clone(sorted(items, key=lambda i: (i["start"]["dateTime"], i["id"])))

    @property
    def cursor(self) -> int:
        """The store's current change sequence number."""
        with self._lock:
            return self._seq

    def to_json(self) -> dict:
        """The whole state as JSON-safe data (for --state-file)."""
        with self._lock:
            return copy.deepcopy(
                {
                    "seq": self._seq,
                    "history_floor": self._history_floor,
                    "mailboxes": [
                        {
                            "user_id": m.user_id,
                            "email": m.email,
                            "display_name": m.display_name,
                            "room_policy": asdict(m.policy) if m.policy else None,
                            "items": list(m.items.values()),
                            "transactions": m.transactions,
                        }
                        for m in self._mailboxes.values()
                    ],
                    "history": [list(entry) for entry in self._history],
                    "rba_queue": [
                        {**entry, "due": _stamp(entry["due"])} for entry in self._rba_queue
                    ],
                }
            )

    @classmethod
    def from_json(cls, data: dict, **kwargs: object) -> CalendarStore:
        """Rebuild a store saved by ``to_json``; kwargs go to the constructor."""
        store = cls(**kwargs)  # type: ignore[arg-type]
        data = copy.deepcopy(data)
        for m in data.get("mailboxes", []):
            policy = RoomPolicy(**m["room_policy"]) if m.get("room_policy") else None
            store.add_mailbox(m["user_id"], m["email"], m["display_name"], room_policy=policy)
            mailbox = store._mailboxes[m["user_id"]]
            mailbox.items = {item["id"]: item for item in m.get("items", [])}
            mailbox.transactions = dict(m.get("transactions", {}))
        store._seq = int(data.get("seq", 0))
        store._history_floor = int(data.get("history_floor", 0))
        store._history = [(int(s), u, item) for s, u, item in data.get("history", [])]
        store._rba_queue = [
            {**entry, "due": _parse_wall(entry["due"])} for entry in data.get("rba_queue", [])
        ]
        return store

    # ----- internals (called with the lock held) ----------------------------------------

    def _now(self) -> datetime:
        return _aware(self._clock())

    def _drain(self) -> list[tuple[str, str, str]]:
        notes, self._notes = self._notes, []
        return notes

    def _emit(self, notes: list[tuple[str, str, str]]) -> None:
        if self._on_change:
            for user_id, event_id, change in notes:
                self._on_change(user_id, event_id, change)

    def _mailbox(self, user_id: str) -> _Mailbox:
        mailbox = self._mailboxes.get(user_id)
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user_id}' is invalid.")
        return mailbox

    def _record(self, mailbox: _Mailbox, item: dict, change: str, before: dict | None) -> None:
        """Log a change: bump the sequence, changeKey and timestamps, queue the notification."""
        self._seq += 1
        if before is not None:
            self._history.append((self._seq, mailbox.user_id, _clone(before)))
            if len(self._history) > HISTORY_LIMIT + HISTORY_TRIM:
                self._history_floor = self._history[HISTORY_TRIM - 1][0]
                del self._history[:HISTORY_TRIM]
        if change != "deleted":
            item["_seq"] = self._seq
            item["changeKey"] = base64.b64encode(secrets.token_bytes(18)).decode()
            item["lastModifiedDateTime"] = _stamp(self._now())
        self._notes.append((mailbox.user_id, item["id"], change))

    def _times(self, payload: dict, base: dict | None) -> dict:
        """start/end/isAllDay/recurrence of a payload (over ``base`` for PATCH), validated."""
        result: dict = {}
        for field in ("start", "end"):
            value = payload.get(field)
            if value is None and base is not None:
                result[field] = base[field]
                result["_zone_" + field] = base[
                    "originalStartTimeZone" if field == "start" else "originalEndTimeZone"
                ]
                continue
            if not isinstance(value, dict) or not value.get("dateTime"):
                raise _invalid(f"The {field} time of the event is required.")
            zone_name = value.get("timeZone") or "UTC"
            zone = rec.resolve_zone(zone_name)
            try:
                moment = _parse_wall(str(value["dateTime"]))
            except ValueError:
                raise _invalid(f"The {field} time of the event is not a valid date.") from None
            if moment.tzinfo is not None:
                moment = moment.astimezone(zone).replace(tzinfo=None)
            utc = rec.to_utc(moment, zone)
            result[field] = {"dateTime": _wall(utc.replace(tzinfo=None)), "timeZone": "UTC"}
            result["_zone_" + field] = zone_name
        all_day = payload.get("isAllDay", base.get("isAllDay") if base else False)
        result["isAllDay"] = bool(all_day)
        start, end = _utc_of(result["start"]), _utc_of(result["end"])
        if end < start:
            raise _invalid("The end time of the event is before its start time.")
        if result["isAllDay"]:
            zone = rec.resolve_zone(result["_zone_start"])
            for moment in (start, end):
                if moment.astimezone(zone).time() != datetime.min.time():
                    raise _invalid(
                        "An all-day event's start and end must be at midnight in its time zone."
                    )
            if end == start:
                raise _invalid("An all-day event must last at least one day.")
        if "recurrence" in payload:
            value = payload["recurrence"]
            result["recurrence"] = rec.validate(value) if value else None
        else:
            result["recurrence"] = base.get("recurrence") if base else None
        return result

    def _seed_event(self, user_id: str, payload: dict) -> dict:
        mailbox = self._mailbox(user_id)
        item = self._create_event(user_id, payload, None, run_rba=False)
        address = ((payload.get("organizer") or {}).get("emailAddress") or {}).get("address")
        if address and address.lower() != mailbox.email.lower():
            name = payload["organizer"]["emailAddress"].get("name") or address
            item["organizer"] = {"emailAddress": {"name": name, "address": address}}
            item["isOrganizer"] = False
            item["responseStatus"] = {"response": "accepted", "time": item["createdDateTime"]}
            for attendee in item["attendees"]:
                if attendee["emailAddress"]["address"].lower() == mailbox.email.lower():
                    attendee["status"] = dict(item["responseStatus"])
        if payload.get("isCancelled"):
            # As a cancellation leaves a room's copy when RemoveCanceledMeetings is false.
            item.update(isCancelled=True, showAs="free", subject="Canceled: " + item["subject"])
        return item

    def _create_event(
        self, user_id: str, payload: dict, event_id: str | None, *, run_rba: bool = True
    ) -> dict:
        mailbox = self._mailbox(user_id)
        if not isinstance(payload, dict):
            raise _invalid()
        transaction = payload.get("transactionId")
        if transaction and transaction in mailbox.transactions:
            original = mailbox.items.get(mailbox.transactions[transaction])
            if original is not None:
                return original
        if event_id is not None and event_id in mailbox.items:
            raise GraphError(409, "ErrorDuplicateItem", "An item with this id already exists.")
        times = self._times(payload, None)
        now = _stamp(self._now())
        item: dict = {"id": event_id or _new_id(), "createdDateTime": now}
        for field, default in WRITABLE_DEFAULTS.items():
            item[field] = _clone(payload.get(field, default))
        self._check_enums(item)
        item.update(
            {
                "iCalUId": _new_ical_uid(),
                "transactionId": transaction,
                "start": times["start"],
                "end": times["end"],
                "originalStartTimeZone": times["_zone_start"],
                "originalEndTimeZone": times["_zone_end"],
                "isAllDay": times["isAllDay"],
                "isCancelled": False,
                "isOrganizer": True,
                "recurrence": times["recurrence"],
                "type": "seriesMaster" if times["recurrence"] else "singleInstance",
                "seriesMasterId": None,
                "responseStatus": {"response": "organizer", "time": NO_TIME},
                "organizer": self._address_of(mailbox),
                "attendees": self._attendees(payload.get("attendees", [])),
                "_cancelled": [],
                "_rooms": {},
                "_origin": None,
            }
        )
        mailbox.items[item["id"]] = item
        if transaction:
            mailbox.transactions[transaction] = item["id"]
        self._record(mailbox, item, "created", None)
        for room in self._invited_rooms(mailbox, item) if run_rba else []:
            self._queue_rba("request", user_id, item["id"], room)
        return item

    @staticmethod
    def _check_enums(item: dict) -> None:
        item["showAs"] = _enum(item["showAs"], FREE_BUSY, "freeBusyStatus")
        item["sensitivity"] = _enum(item["sensitivity"], SENSITIVITIES, "sensitivity")
        item["importance"] = _enum(item["importance"], IMPORTANCES, "importance")

    def _attendees(self, value: object) -> list[dict]:
        """Attendees as Graph stores them; Exchange fills in the names it knows."""
        attendees = _normalise_attendees(value)
        for attendee in attendees:
            email = attendee["emailAddress"]
            known = self._by_email.get(email["address"].lower())
            if known is not None and email["name"] == email["address"]:
                email["name"] = self._mailboxes[known].display_name
        return attendees

    @staticmethod
    def _address_of(mailbox: _Mailbox) -> dict:
        return {"emailAddress": {"name": mailbox.display_name, "address": mailbox.email}}

    def _invited_rooms(self, mailbox: _Mailbox, item: dict) -> list[str]:
        """Room mailboxes of this store invited as resource attendees (not the mailbox itself)."""
        rooms = []
        for attendee in item.get("attendees") or []:
            room = self._by_email.get(attendee["emailAddress"]["address"].lower())
            if (
                attendee["type"] == "resource"
                and room is not None
                and room != mailbox.user_id
                and self._mailboxes[room].policy is not None
                and room not in rooms
            ):
                rooms.append(room)
        return rooms

    def _queue_rba(self, kind: str, organizer: str, event_id: str, room: str) -> None:
        self._rba_queue = [
            e
            for e in self._rba_queue
            if not (e["organizer"] == organizer and e["event_id"] == event_id and e["room"] == room)
        ]
        self._rba_queue.append(
            {
                "due": self._now() + self._rba_delay,
                "kind": kind,
                "organizer": organizer,
                "event_id": event_id,
                "room": room,
            }
        )

    # ----- instances ---------------------------------------------------------------------

    def _occurrences(
        self, master: dict, until: datetime, after: datetime | None = None
    ) -> list[dict]:
        """The series' occurrences starting before ``until`` (and ending at or after ``after``),
        cancelled ones left out. Their nested values (attendees, body...) are the master's
        own: a caller that keeps or changes an occurrence clones it first."""
        zone = rec.resolve_zone(master["originalStartTimeZone"])
        end_zone = rec.resolve_zone(master["originalEndTimeZone"])
        master_start = _utc_of(master["start"]).astimezone(zone).replace(tzinfo=None)
        master_end = _utc_of(master["end"]).astimezone(end_zone).replace(tzinfo=None)
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
            if (after is not None and end < after) or _stamp(start) in cancelled:
                continue
            occurrence = dict(shared)  # nested values stay the master's: see the docstring
            occurrence.update(
                {
                    "id": _occurrence_id(master["id"], start),
                    "type": "occurrence",
                    "seriesMasterId": master["id"],
                    "recurrence": None,
                    "transactionId": None,
                    "originalStart": _stamp(start).replace(".0000000Z", "Z"),
                    "start": {"dateTime": _wall(start.replace(tzinfo=None)), "timeZone": "UTC"},
                    "end": {"dateTime": _wall(end.replace(tzinfo=None)), "timeZone": "UTC"},
                    "_seq": master["_seq"],
                }
            )
            occurrences.append(occurrence)
        return occurrences

    def _instances_of(
        self,
        mailbox: _Mailbox,
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
                for o in self._occurrences(item, end, start)
                if tombstone or o["id"] not in mailbox.items
            ]
        elif item["type"] == "exception" and not tombstone:
            if item["seriesMasterId"] not in mailbox.items:
                return []
            candidates = [item]
        else:
            candidates = [item]
        # Graph also lists an event that ends exactly at startDateTime (see the module notes).
        return [c for c in candidates if _utc_of(c["start"]) < end and _utc_of(c["end"]) >= start]

    def _view(self, mailbox: _Mailbox, start: datetime, end: datetime) -> list[dict]:
        instances = []
        for item in mailbox.items.values():
            instances.extend(self._instances_of(mailbox, item, start, end))
        return sorted(instances, key=lambda i: (i["start"]["dateTime"], i["id"]))

    def _find_instance(self, mailbox: _Mailbox, event_id: str) -> dict:
        item = mailbox.items.get(event_id)
        if item is not None:
            return item
        parts = _split_occurrence_id(event_id)
        if parts is None or parts[0] not in mailbox.items:
            raise _not_found()
        master = mailbox.items[parts[0]]
        if master["type"] != "seriesMaster":
            raise _not_found()
        for occurrence in self._occurrences(master, parts[1] + timedelta(seconds=1), parts[1]):
            if occurrence["id"] == event_id:
                return occurrence
        raise _not_found()

    # ----- writes ------------------------------------------------------------------------

    def _update_event(self, user_id: str, event_id: str, patch: dict) -> dict:
        mailbox = self._mailbox(user_id)
        if not isinstance(patch, dict):
            raise _invalid()
        target = self._find_instance(mailbox, event_id)
        if "transactionId" in patch and patch["transactionId"] != target.get("transactionId"):
            raise GraphError(
                400, "ErrorInvalidRequest", "The transactionId of an event cannot be changed."
            )
        if target["type"] in ("occurrence", "exception") and patch.get("recurrence"):
            raise _invalid("An occurrence of a series cannot have a recurrence.")
        # Validate everything before touching the stored item, so a 400 changes nothing.
        times = self._times(patch, target)
        fields = {f: _clone(patch[f]) for f in WRITABLE_DEFAULTS if f in patch}
        probe = {k: fields.get(k, target[k]) for k in ("showAs", "sensitivity", "importance")}
        self._check_enums(probe)
        fields.update(probe)
        attendees = self._attendees(patch["attendees"]) if "attendees" in patch else None
        if target["type"] == "occurrence":
            # Graph keeps the occurrence's id when the change makes it an exception.
            item = {**_clone(target), "type": "exception", "_cancelled": [], "_rooms": {},
                    "_origin": None}
            before = None
            mailbox.items[item["id"]] = item
        else:
            item = target
            before = _clone(item)
        moved = (
            times["start"] != item["start"]
            or times["end"] != item["end"]
            or times["isAllDay"] != item["isAllDay"]
            or times["recurrence"] != item.get("recurrence")
        )
        old_rooms = self._invited_rooms(mailbox, item) if item.get("isOrganizer") else []
        item.update(fields)
        if attendees is not None:
            known = {a["emailAddress"]["address"].lower(): a for a in item.get("attendees") or []}
            for attendee in attendees:
                # Responses belong to the attendees: a PATCH of the list keeps them.
                previous = known.get(attendee["emailAddress"]["address"].lower())
                if previous:
                    attendee["status"] = previous["status"]
            item["attendees"] = attendees
        item.update(
            {
                "start": times["start"],
                "end": times["end"],
                "originalStartTimeZone": times["_zone_start"],
                "originalEndTimeZone": times["_zone_end"],
                "isAllDay": times["isAllDay"],
            }
        )
        if item["type"] in ("seriesMaster", "singleInstance"):
            item["recurrence"] = times["recurrence"]
            item["type"] = "seriesMaster" if times["recurrence"] else "singleInstance"
        if moved and item.get("isOrganizer"):
            for attendee in item["attendees"]:
                attendee["status"] = {"response": "none", "time": NO_TIME}
        self._record(mailbox, item, "updated", before)
        if before is not None and before["type"] == "seriesMaster":
            self._sync_exceptions(mailbox, item, drop_all=moved)
        if item.get("isOrganizer"):
            master_id = item["seriesMasterId"] if item["type"] == "exception" else item["id"]
            master = mailbox.items[master_id]
            if moved and item["type"] == "exception":
                self._reset_room_responses(mailbox, master)
            new_rooms = self._invited_rooms(mailbox, master)
            for room in new_rooms:
                self._queue_rba("request", user_id, master_id, room)
            for room in old_rooms:
                if room not in new_rooms and room in master.get("_rooms", {}):
                    self._queue_rba("cancel", user_id, master["_rooms"].pop(room), room)
        return item

    def _reset_room_responses(self, mailbox: _Mailbox, master: dict) -> None:
        before = _clone(master)
        rooms = {self._mailboxes[r].email.lower() for r in self._invited_rooms(mailbox, master)}
        for attendee in master["attendees"]:
            if attendee["emailAddress"]["address"].lower() in rooms:
                attendee["status"] = {"response": "none", "time": NO_TIME}
        self._record(mailbox, master, "updated", before)

    def _sync_exceptions(self, mailbox: _Mailbox, master: dict, *, drop_all: bool) -> None:
        """After a series update: drop its exceptions (time changed) or copy the new fields."""
        exceptions = [
            i
            for i in mailbox.items.values()
            if i["type"] == "exception" and i["seriesMasterId"] == master["id"]
        ]
        if drop_all:
            master["_cancelled"] = []
        for exception in exceptions:
            before = _clone(exception)
            if drop_all:
                del mailbox.items[exception["id"]]
                self._record(mailbox, exception, "deleted", before)
                continue
            for field in (*WRITABLE_DEFAULTS, "attendees"):
                exception[field] = _clone(master[field])
            self._record(mailbox, exception, "updated", before)

    def _delete_event(self, user_id: str, event_id: str) -> None:
        mailbox = self._mailbox(user_id)
        target = self._find_instance(mailbox, event_id)
        if target["type"] in ("occurrence", "exception"):
            master = mailbox.items[target["seriesMasterId"]]
            if target["type"] == "exception":
                del mailbox.items[target["id"]]
                self._record(mailbox, target, "deleted", target)
            before = _clone(master)
            master["_cancelled"] = sorted(
                {*master["_cancelled"], _stamp(_parse_wall(target["originalStart"]))}
            )
            self._record(mailbox, master, "updated", before)
            if master.get("isOrganizer"):
                for room in self._invited_rooms(mailbox, master):
                    self._queue_rba("request", user_id, master["id"], room)
            return
        for item in list(mailbox.items.values()):
            if item["type"] == "exception" and item["seriesMasterId"] == target["id"]:
                del mailbox.items[item["id"]]
                self._record(mailbox, item, "deleted", item)
        del mailbox.items[target["id"]]
        self._record(mailbox, target, "deleted", target)
        # Cancel's comment only travels in the cancellation mail, which is not modelled.
        self._rba_queue = [
            e
            for e in self._rba_queue
            if not (e["organizer"] == user_id and e["event_id"] == target["id"])
        ]
        if target.get("isOrganizer"):
            for room, copy_id in (target.get("_rooms") or {}).items():
                self._queue_rba("cancel", user_id, copy_id, room)

    # ----- Resource Booking Assistant ----------------------------------------------------

    def _spans(self, mailbox: _Mailbox, master: dict, until: datetime) -> list[tuple]:
        """(start, end) of every instance of an organizer's item starting before ``until``."""
        if master["type"] != "seriesMaster":
            return [(_utc_of(master["start"]), _utc_of(master["end"]))]
        spans = [
            (_utc_of(o["start"]), _utc_of(o["end"]))
            for o in self._occurrences(master, until)
            if o["id"] not in mailbox.items
        ]
        for item in mailbox.items.values():
            if item["type"] == "exception" and item["seriesMasterId"] == master["id"]:
                spans.append((_utc_of(item["start"]), _utc_of(item["end"])))
        return sorted(spans)

    def _horizon(self, policy: RoomPolicy) -> datetime:
        now = self._now()
        if policy.booking_window_days == 0:
            # BookingWindowInDays: "The value 0 means today."
            return datetime.combine(now.date() + timedelta(days=1), time.min, UTC)
        return now + timedelta(days=policy.booking_window_days)

    def _extends_past(self, mailbox: _Mailbox, master: dict, horizon: datetime) -> bool:
        """Whether any instance of the series starts after ``horizon``."""
        if master["recurrence"]["range"]["type"] == "noEnd":
            return True
        if any(
            item["type"] == "exception"
            and item["seriesMasterId"] == master["id"]
            and _utc_of(item["start"]) > horizon
            for item in mailbox.items.values()
        ):
            return True
        zone = rec.resolve_zone(master["originalStartTimeZone"])
        start_time = _utc_of(master["start"]).astimezone(zone).time()
        cancelled = set(master.get("_cancelled") or [])
        return any(
            start > horizon and _stamp(start) not in cancelled
            for _, start in rec.occurrence_starts(
                master["recurrence"], start_time, zone, FAR_FUTURE, horizon.date()
            )
        )

    def _decide(
        self, room: _Mailbox, organizer: _Mailbox, item: dict
    ) -> tuple[bool, datetime | None]:
        """The assistant's answer, and for a series it accepts only up to the booking window,
        the horizon its room copy is cut at (EnforceSchedulingHorizon false)."""
        policy = room.policy or RoomPolicy()
        horizon = self._horizon(policy)
        series = item["type"] == "seriesMaster"
        if series and not policy.allow_recurring_meetings:
            return False, None
        spans = self._spans(organizer, item, horizon)
        if not spans or spans[0][0] > horizon:
            return False, None
        cut = None
        if series and self._extends_past(organizer, item, horizon):
            if policy.enforce_scheduling_horizon:
                return False, None
            cut = horizon
        limit = timedelta(minutes=policy.max_duration_minutes)
        if policy.max_duration_minutes and any(end - start > limit for start, end in spans):
            return False, None
        if policy.allow_conflicts:
            return True, cut
        own_copy = (item.get("_rooms") or {}).get(room.user_id)
        busy = [
            (_utc_of(i["start"]), _utc_of(i["end"]))
            for i in self._view(room, spans[0][0], max(end for _, end in spans))
            if not i.get("isCancelled")
            and i.get("showAs") != "free"
            and (own_copy is None or own_copy not in (i["id"], i.get("seriesMasterId")))
        ]
        conflict = any(s < b_end and b_start < e for s, e in spans for b_start, b_end in busy)
        return not conflict, cut

    def _process_request(self, organizer_id: str, event_id: str, room_id: str) -> None:
        organizer = self._mailboxes.get(organizer_id)
        room = self._mailboxes.get(room_id)
        item = organizer.items.get(event_id) if organizer else None
        if item is None or room is None or room.policy is None:
            return
        if room_id not in self._invited_rooms(organizer, item):
            return
        if room.policy.auto_accept:
            accepted, cut = self._decide(room, organizer, item)
            response = "accepted" if accepted else "declined"
        else:
            accepted, cut, response = True, None, "none"
        copy_id = item["_rooms"].get(room_id)
        if accepted:
            item["_rooms"][room_id] = self._upsert_room_copy(room, organizer, item, copy_id, cut)
        elif copy_id is not None:
            del item["_rooms"][room_id]
            self._remove_room_copy(room, copy_id)
        before = _clone(item)
        for attendee in item["attendees"]:
            if attendee["emailAddress"]["address"].lower() == room.email.lower():
                time = _stamp(self._now()) if response != "none" else NO_TIME
                attendee["status"] = {"response": response, "time": time}
        self._record(organizer, item, "updated", before)

    def _room_fields(self, room: _Mailbox, organizer: _Mailbox, source: dict) -> dict:
        """What the room's copy of an organizer's item (or exception) holds."""
        policy = room.policy or RoomPolicy()
        fields = {
            k: _clone(v)
            for k, v in source.items()
            if not k.startswith("_")
            and k not in ("id", "createdDateTime", "changeKey", "lastModifiedDateTime")
        }
        # AddOrganizerToSubject, DeleteSubject and DeleteComments apply with AutoAccept only.
        rewrite = policy.auto_accept
        subject = source.get("subject", "")
        if rewrite and policy.add_organizer_to_subject:
            subject = organizer.display_name
        elif rewrite and policy.delete_subject:
            subject = ""
        fields["subject"] = subject
        if rewrite and policy.delete_comments:
            fields["body"] = {
                "contentType": source["body"].get("contentType", "text"),
                "content": "",
            }
        if policy.remove_private_property:
            fields["sensitivity"] = "normal"
        tentative = not policy.auto_accept
        now = _stamp(self._now())
        fields.update(
            {
                "transactionId": None,
                "isOrganizer": False,
                "organizer": self._address_of(organizer),
                "responseStatus": {"response": "notResponded", "time": NO_TIME}
                if tentative
                else {"response": "accepted", "time": now},
                "showAs": "tentative" if tentative else source.get("showAs", "busy"),
            }
        )
        for attendee in fields.get("attendees") or []:
            if attendee["emailAddress"]["address"].lower() == room.email.lower():
                attendee["status"] = fields["responseStatus"]
        return fields

    def _upsert_room_copy(
        self,
        room: _Mailbox,
        organizer: _Mailbox,
        item: dict,
        copy_id: str | None,
        cut: datetime | None,
    ) -> str:
        existing = room.items.get(copy_id) if copy_id else None
        fields = self._room_fields(room, organizer, item)
        if cut is not None:
            # EnforceSchedulingHorizon false: "the number of meetings is automatically reduced
            # so meetings won't occur after the specified date".
            zone = rec.resolve_zone(item["originalStartTimeZone"])
            fields["recurrence"]["range"].update(
                {
                    "type": "endDate",
                    "endDate": cut.astimezone(zone).date().isoformat(),
                    "numberOfOccurrences": 0,
                }
            )
        if existing is None:
            room_item = {"id": _new_id(), "createdDateTime": _stamp(self._now()), **fields}
            room_item.update({"_cancelled": [], "_rooms": {}})
            before = None
        else:
            room_item, before = existing, _clone(existing)
            room_item.update(fields)
        room_item["_origin"] = {"user": organizer.user_id, "id": item["id"]}
        room_item["_cancelled"] = list(item.get("_cancelled") or [])
        room.items[room_item["id"]] = room_item
        self._record(room, room_item, "created" if before is None else "updated", before)
        if item["type"] == "seriesMaster" or (before and before["type"] == "seriesMaster"):
            self._mirror_exceptions(room, organizer, item, room_item)
        return room_item["id"]

    def _mirror_exceptions(
        self, room: _Mailbox, organizer: _Mailbox, item: dict, room_item: dict
    ) -> None:
        wanted = {}
        for exception in organizer.items.values():
            if exception["type"] == "exception" and exception["seriesMasterId"] == item["id"]:
                start = _parse_wall(exception["originalStart"])
                wanted[_occurrence_id(room_item["id"], start)] = exception
        for existing in list(room.items.values()):
            if (
                existing["type"] == "exception"
                and existing["seriesMasterId"] == room_item["id"]
                and existing["id"] not in wanted
            ):
                del room.items[existing["id"]]
                self._record(room, existing, "deleted", existing)
        for room_id, exception in wanted.items():
            fields = self._room_fields(room, organizer, exception)
            fields.update({"seriesMasterId": room_item["id"], "type": "exception"})
            current = room.items.get(room_id)
            before = _clone(current) if current else None
            room_exception = current or {"id": room_id, "createdDateTime": _stamp(self._now())}
            room_exception.update(fields)
            room_exception.update({"_cancelled": [], "_rooms": {}, "_origin": None})
            room.items[room_id] = room_exception
            self._record(room, room_exception, "created" if before is None else "updated", before)

    def _remove_room_copy(self, room: _Mailbox, copy_id: str) -> None:
        for item in list(room.items.values()):
            if item["id"] == copy_id or (
                item["type"] == "exception" and item["seriesMasterId"] == copy_id
            ):
                del room.items[item["id"]]
                self._record(room, item, "deleted", item)

    def _process_cancel(self, room_id: str, copy_id: str) -> None:
        room = self._mailboxes.get(room_id)
        if room is None or copy_id not in room.items:
            return
        if room.policy is not None and room.policy.remove_canceled_meetings:
            self._remove_room_copy(room, copy_id)
            return
        for item in list(room.items.values()):
            if item["id"] == copy_id or (
                item["type"] == "exception" and item["seriesMasterId"] == copy_id
            ):
                before = _clone(item)
                item["isCancelled"] = True
                item["showAs"] = "free"
                if not str(item.get("subject", "")).startswith("Canceled: "):
                    item["subject"] = "Canceled: " + str(item.get("subject", ""))
                self._record(room, item, "updated", before)


__all__ = ["CalendarStore", "RoomPolicy"]
