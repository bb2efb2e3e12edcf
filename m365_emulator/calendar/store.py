"""CalendarStore: mailboxes' calendars in memory (events, delta change log, JSON state), no HTTP.

The HTTP layer resolves ``{id|userPrincipalName}`` to a user id and calls ``CalendarStore``;
every method is thread-safe (one RLock) and ``on_change`` is called outside the lock. The store
owns the rooms' booking assistant (booking_assistant.py); payloads.py validates what clients
send, instances.py expands series, render.py shapes the Graph answer.

Behaviour, and where it comes from (Graph docs = learn.microsoft.com/graph/api/...):
- Items are kept canonical: Graph field names, start/end in UTC, the zone the client used kept
  in originalStartTimeZone/originalEndTimeZone; ``render_event`` shapes the answer in any zone.
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
- Only room mailboxes of this store receive copies of meetings; other attendees' calendars are
  not modelled. An attendee (a room) may PATCH or DELETE its own copy: the change stays local and
  nothing is sent to the organizer (a Graph DELETE sends no response).
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
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from ..errors import GraphError
from .booking_assistant import BookingAssistant
from .instances import find_instance, instances_in, instances_of
from .model import (
    NO_TIME,
    Mailbox,
    RoomPolicy,
    address_of,
    aware,
    clone,
    new_id,
    parse_wall,
    stamp,
    utc_now,
)
from .payloads import WRITABLE_DEFAULTS, check_enums, invalid, normalise_attendees, parse_times

# iCalUId: Outlook's Global Object ID (class id, instance date left zero, then a random uid).
GOID_CLASS = "040000008200E00074C5B7101A82E008"
# Tombstones kept for delta; a cursor older than the oldest one gets 410 (resync).
HISTORY_LIMIT = 50_000
HISTORY_TRIM = 1_000

ChangeCallback = Callable[[str, str, str], None]


def _new_ical_uid() -> str:
    return GOID_CLASS + "00000000" + "0" * 32 + "10000000" + secrets.token_hex(16).upper()


class CalendarStore:
    """Mailboxes' calendars, the Resource Booking Assistant and the change log for delta."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utc_now,
        rba_delay_seconds: float = 2.0,
        on_change: ChangeCallback | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._on_change = on_change
        self._mailboxes: dict[str, Mailbox] = {}
        self._by_email: dict[str, str] = {}
        self._seq = 0
        self._history: list[tuple[int, str, dict]] = []  # (seq, user id, item before change)
        self._history_floor = 0
        self._notes: list[tuple[str, str, str]] = []
        self._rba = BookingAssistant(
            self._mailboxes,
            self._by_email,
            delay=timedelta(seconds=rba_delay_seconds),
            now=self._now,
            record=self._record,
        )

    # ----- public API -------------------------------------------------------------------

    def add_mailbox(
        self, user_id: str, email: str, display_name: str, *, room_policy: RoomPolicy | None = None
    ) -> None:
        """Register a mailbox; one with a room policy is a room mailbox."""
        with self._lock:
            existing = self._mailboxes.get(user_id)
            items = existing.items if existing else {}
            transactions = existing.transactions if existing else {}
            self._mailboxes[user_id] = Mailbox(
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
            result = clone(self._create_event(user_id, payload, event_id))
            notes = self._drain()
        self._emit(notes)
        return result

    def seed_event(self, user_id: str, payload: dict) -> dict:
        """An item as it already sits in a calendar (fixtures): no RBA, organizer as given.

        A payload whose organizer is another address becomes a meeting this mailbox has
        accepted, the way a room's calendar holds what its assistant accepted.
        """
        with self._lock:
            result = clone(self._seed_event(user_id, payload))
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
            return clone(sorted(listed, key=lambda i: i["createdDateTime"]))

    def get_event(self, user_id: str, event_id: str) -> dict:
        """GET /users/{id}/events/{id}: a stored item or an occurrence."""
        with self._lock:
            return clone(find_instance(self._mailbox(user_id), event_id))

    def update_event(self, user_id: str, event_id: str, patch: dict) -> dict:
        """PATCH semantics; patching an occurrence turns it into an exception."""
        with self._lock:
            result = clone(self._update_event(user_id, event_id, patch))
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
            instance = find_instance(mailbox, event_id)
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
            return clone(instances_in(mailbox, aware(start), aware(end)))

    def instance_count(self, user_id: str, start: datetime, end: datetime) -> int:
        """How many instances calendar_view would list (for benchmarks; nothing copied)."""
        with self._lock:
            return len(instances_in(self._mailbox(user_id), aware(start), aware(end)))

    def delta_changes(
        self, user_id: str, start: datetime, end: datetime, since: int | None
    ) -> tuple[list[dict], int]:
        """calendarView/delta: (instances changed or removed since ``since``, new cursor)."""
        with self._lock:
            return clone(self._delta_changes(user_id, start, end, since)[0]), self._seq

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
            return encode(items[:size]), clone(items[size:]), cursor

    def _delta_changes(
        self, user_id: str, start: datetime, end: datetime, since: int | None
    ) -> tuple[list[dict], int]:
        """delta_changes without copies: the items are the store's own (lock held)."""
        mailbox = self._mailbox(user_id)
        start, end = aware(start), aware(end)
        current = instances_in(mailbox, start, end)
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
            for old in instances_of(mailbox, before, start, end, tombstone=True):
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

    def run_due_rba(self) -> int:
        """Process the Resource Booking Assistant's due work; returns how many were processed."""
        with self._lock:
            processed = self._rba.run_due()
            notes = self._drain()
        self._emit(notes)
        return processed

    def pending_rba(self) -> int:
        """How many Resource Booking Assistant items wait (for the control API and tests)."""
        with self._lock:
            return len(self._rba.queue)

    def mailbox_events(self, user_id: str) -> list[dict]:
        """The mailbox's stored items (masters, exceptions, single events), by start."""
        with self._lock:
            items = self._mailbox(user_id).items.values()
            return clone(sorted(items, key=lambda i: (i["start"]["dateTime"], i["id"])))

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
                        {**entry, "due": stamp(entry["due"])} for entry in self._rba.queue
                    ],
                }
            )

    @classmethod
    def from_json(cls, data: dict, **kwargs: Any) -> CalendarStore:
        """Rebuild a store saved by ``to_json``; kwargs go to the constructor."""
        store = cls(**kwargs)
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
        store._rba.queue = [
            {**entry, "due": parse_wall(entry["due"])} for entry in data.get("rba_queue", [])
        ]
        return store

    # ----- internals (called with the lock held) ----------------------------------------

    def _now(self) -> datetime:
        return aware(self._clock())

    def _drain(self) -> list[tuple[str, str, str]]:
        notes, self._notes = self._notes, []
        return notes

    def _emit(self, notes: list[tuple[str, str, str]]) -> None:
        if self._on_change:
            for user_id, event_id, change in notes:
                self._on_change(user_id, event_id, change)

    def _mailbox(self, user_id: str) -> Mailbox:
        mailbox = self._mailboxes.get(user_id)
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user_id}' is invalid.")
        return mailbox

    def _record(self, mailbox: Mailbox, item: dict, change: str, before: dict | None) -> None:
        """Log a change: bump the sequence, changeKey and timestamps, queue the notification."""
        self._seq += 1
        if before is not None:
            self._history.append((self._seq, mailbox.user_id, clone(before)))
            if len(self._history) > HISTORY_LIMIT + HISTORY_TRIM:
                self._history_floor = self._history[HISTORY_TRIM - 1][0]
                del self._history[:HISTORY_TRIM]
        if change != "deleted":
            item["_seq"] = self._seq
            item["changeKey"] = base64.b64encode(secrets.token_bytes(18)).decode()
            item["lastModifiedDateTime"] = stamp(self._now())
        self._notes.append((mailbox.user_id, item["id"], change))

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
            raise invalid()
        transaction = payload.get("transactionId")
        if transaction and transaction in mailbox.transactions:
            original = mailbox.items.get(mailbox.transactions[transaction])
            if original is not None:
                return original
        if event_id is not None and event_id in mailbox.items:
            raise GraphError(409, "ErrorDuplicateItem", "An item with this id already exists.")
        times = parse_times(payload, None)
        now = stamp(self._now())
        item: dict = {"id": event_id or new_id(), "createdDateTime": now}
        for field, default in WRITABLE_DEFAULTS.items():
            item[field] = clone(payload.get(field, default))
        check_enums(item)
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
                "organizer": address_of(mailbox),
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
        for room in self._rba.invited_rooms(mailbox, item) if run_rba else []:
            self._rba.enqueue("request", user_id, item["id"], room)
        return item

    def _attendees(self, value: object) -> list[dict]:
        """Attendees as Graph stores them; Exchange fills in the names it knows."""
        attendees = normalise_attendees(value)
        for attendee in attendees:
            email = attendee["emailAddress"]
            known = self._by_email.get(email["address"].lower())
            if known is not None and email["name"] == email["address"]:
                email["name"] = self._mailboxes[known].display_name
        return attendees

    # ----- writes ------------------------------------------------------------------------

    def _update_event(self, user_id: str, event_id: str, patch: dict) -> dict:
        mailbox = self._mailbox(user_id)
        if not isinstance(patch, dict):
            raise invalid()
        target = find_instance(mailbox, event_id)
        if "transactionId" in patch and patch["transactionId"] != target.get("transactionId"):
            raise GraphError(
                400, "ErrorInvalidRequest", "The transactionId of an event cannot be changed."
            )
        if target["type"] in ("occurrence", "exception") and patch.get("recurrence"):
            raise invalid("An occurrence of a series cannot have a recurrence.")
        # Validate everything before touching the stored item, so a 400 changes nothing.
        times = parse_times(patch, target)
        fields = {f: clone(patch[f]) for f in WRITABLE_DEFAULTS if f in patch}
        probe = {k: fields.get(k, target[k]) for k in ("showAs", "sensitivity", "importance")}
        check_enums(probe)
        fields.update(probe)
        attendees = self._attendees(patch["attendees"]) if "attendees" in patch else None
        if target["type"] == "occurrence":
            # Graph keeps the occurrence's id when the change makes it an exception.
            item = {**clone(target), "type": "exception", "_cancelled": [], "_rooms": {},
                    "_origin": None}
            before = None
            mailbox.items[item["id"]] = item
        else:
            item = target
            before = clone(item)
        moved = (
            times["start"] != item["start"]
            or times["end"] != item["end"]
            or times["isAllDay"] != item["isAllDay"]
            or times["recurrence"] != item.get("recurrence")
        )
        old_rooms = self._rba.invited_rooms(mailbox, item) if item.get("isOrganizer") else []
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
                self._rba.reset_room_responses(mailbox, master)
            new_rooms = self._rba.invited_rooms(mailbox, master)
            for room in new_rooms:
                self._rba.enqueue("request", user_id, master_id, room)
            for room in old_rooms:
                if room not in new_rooms and room in master.get("_rooms", {}):
                    self._rba.enqueue("cancel", user_id, master["_rooms"].pop(room), room)
        return item

    def _sync_exceptions(self, mailbox: Mailbox, master: dict, *, drop_all: bool) -> None:
        """After a series update: drop its exceptions (time changed) or copy the new fields."""
        exceptions = [
            i
            for i in mailbox.items.values()
            if i["type"] == "exception" and i["seriesMasterId"] == master["id"]
        ]
        if drop_all:
            master["_cancelled"] = []
        for exception in exceptions:
            before = clone(exception)
            if drop_all:
                del mailbox.items[exception["id"]]
                self._record(mailbox, exception, "deleted", before)
                continue
            for field in (*WRITABLE_DEFAULTS, "attendees"):
                exception[field] = clone(master[field])
            self._record(mailbox, exception, "updated", before)

    def _delete_event(self, user_id: str, event_id: str) -> None:
        mailbox = self._mailbox(user_id)
        target = find_instance(mailbox, event_id)
        if target["type"] in ("occurrence", "exception"):
            master = mailbox.items[target["seriesMasterId"]]
            if target["type"] == "exception":
                del mailbox.items[target["id"]]
                self._record(mailbox, target, "deleted", target)
            before = clone(master)
            master["_cancelled"] = sorted(
                {*master["_cancelled"], stamp(parse_wall(target["originalStart"]))}
            )
            self._record(mailbox, master, "updated", before)
            if master.get("isOrganizer"):
                for room in self._rba.invited_rooms(mailbox, master):
                    self._rba.enqueue("request", user_id, master["id"], room)
            return
        for item in list(mailbox.items.values()):
            if item["type"] == "exception" and item["seriesMasterId"] == target["id"]:
                del mailbox.items[item["id"]]
                self._record(mailbox, item, "deleted", item)
        del mailbox.items[target["id"]]
        self._record(mailbox, target, "deleted", target)
        # Cancel's comment only travels in the cancellation mail, which is not modelled.
        self._rba.forget(user_id, target["id"])
        if target.get("isOrganizer"):
            for room, copy_id in (target.get("_rooms") or {}).items():
                self._rba.enqueue("cancel", user_id, copy_id, room)

