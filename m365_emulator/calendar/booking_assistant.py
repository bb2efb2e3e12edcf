"""The Resource Booking Assistant of room mailboxes: queued work, policies, answers, room copies.

Behaviour, and where it comes from (Set-CalendarProcessing):
- A room invited as a ``resource`` attendee processes the request ``rba_delay_seconds`` later.
  AutoAccept checks MaximumDurationInMinutes (every instance), BookingWindowInDays (the first
  instance's start) and, unless AllowConflicts, overlap with the room's items that are not
  cancelled and not showAs free (every instance up to the end of the booking window; the series
  is declined if any conflicts, as MaximumConflictInstances and ConflictPercentageAllowed
  default to 0). Accepted: a copy lands in the room calendar (same iCalUId, organizer = the
  booker, subject per DeleteSubject/AddOrganizerToSubject, body emptied per DeleteComments,
  private flag cleared per RemovePrivateProperty, all defaults true) and the organizer's
  attendee entry becomes accepted. Declined: no copy (an existing copy is removed) and the entry
  says declined. A series is declined when AllowRecurringMeetings is false, and when it runs
  past the window (noEnd included) while EnforceSchedulingHorizon is true, the default; with it
  false the room's copy is cut at the window. MaximumDurationInMinutes 0 means unlimited,
  BookingWindowInDays 0 today. Not modelled: MaximumConflictInstances/ConflictPercentageAllowed
  above 0, delegates, BookInPolicy lists, external organizers.
- AutomateProcessing=AutoUpdate (``auto_accept=False``): the Calendar Attendant puts the request
  in the room calendar as tentative and nobody answers, so the organizer sees ``none`` (assumed).
- A cancelled meeting reaches the room: deleted if RemoveCanceledMeetings, else kept with
  isCancelled true, showAs free and the subject prefixed "Canceled: " as Outlook does (the
  prefix is assumed); it is no longer busy.
- Any organizer update is sent to the room again and re-processed; a change of time or pattern
  resets the room's response to ``none`` until then (assumed, as Outlook resets responses).
  A room removed from the attendees gets a cancellation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from .. import recurrence as rec
from .instances import instances_in, occurrence_id, occurrences_of
from .model import (
    NO_TIME,
    Mailbox,
    RoomPolicy,
    address_of,
    clone,
    new_id,
    parse_wall,
    stamp,
    utc_of,
)

# Later than any series of this emulator can reach, to find where a bounded series ends.
FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)

# The store's change log: (mailbox, item, "created"/"updated"/"deleted", item before or None).
RecordChange = Callable[[Mailbox, dict, str, dict | None], None]


class BookingAssistant:
    """The booking assistant of a store's room mailboxes, working on the store's mailboxes and
    recording its changes through the store (every method is called with the store's lock held)."""

    def __init__(
        self,
        mailboxes: dict[str, Mailbox],
        by_email: dict[str, str],
        *,
        delay: timedelta,
        now: Callable[[], datetime],
        record: RecordChange,
    ) -> None:
        self._mailboxes = mailboxes
        self._by_email = by_email
        self._delay = delay
        self._now = now
        self._record = record
        self.queue: list[dict] = []  # due work: {"due", "kind", "organizer", "event_id", "room"}

    def invited_rooms(self, mailbox: Mailbox, item: dict) -> list[str]:
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

    def enqueue(self, kind: str, organizer: str, event_id: str, room: str) -> None:
        """Queue a "request" or "cancel" for the room, replacing one queued for the same item."""
        self.queue = [
            e
            for e in self.queue
            if not (e["organizer"] == organizer and e["event_id"] == event_id and e["room"] == room)
        ]
        self.queue.append(
            {
                "due": self._now() + self._delay,
                "kind": kind,
                "organizer": organizer,
                "event_id": event_id,
                "room": room,
            }
        )

    def forget(self, organizer: str, event_id: str) -> None:
        """Drop the work queued for an organizer's item (it is being deleted)."""
        self.queue = [
            e
            for e in self.queue
            if not (e["organizer"] == organizer and e["event_id"] == event_id)
        ]

    def run_due(self) -> int:
        """Process the due requests and cancellations; returns how many were processed."""
        now = self._now()
        due = [entry for entry in self.queue if entry["due"] <= now]
        self.queue = [entry for entry in self.queue if entry["due"] > now]
        for entry in due:
            if entry["kind"] == "request":
                self._process_request(entry["organizer"], entry["event_id"], entry["room"])
            else:
                self._process_cancel(entry["room"], entry["event_id"])
        return len(due)

    def reset_room_responses(self, mailbox: Mailbox, master: dict) -> None:
        """The organizer moved the meeting: the rooms invited have not answered the new time."""
        before = clone(master)
        rooms = {self._mailboxes[r].email.lower() for r in self.invited_rooms(mailbox, master)}
        for attendee in master["attendees"]:
            if attendee["emailAddress"]["address"].lower() in rooms:
                attendee["status"] = {"response": "none", "time": NO_TIME}
        self._record(mailbox, master, "updated", before)

    def _spans(self, mailbox: Mailbox, master: dict, until: datetime) -> list[tuple]:
        """(start, end) of every instance of an organizer's item starting before ``until``."""
        if master["type"] != "seriesMaster":
            return [(utc_of(master["start"]), utc_of(master["end"]))]
        spans = [
            (utc_of(o["start"]), utc_of(o["end"]))
            for o in occurrences_of(master, until)
            if o["id"] not in mailbox.items
        ]
        for item in mailbox.items.values():
            if item["type"] == "exception" and item["seriesMasterId"] == master["id"]:
                spans.append((utc_of(item["start"]), utc_of(item["end"])))
        return sorted(spans)

    def _horizon(self, policy: RoomPolicy) -> datetime:
        now = self._now()
        if policy.booking_window_days == 0:
            # BookingWindowInDays: "The value 0 means today."
            return datetime.combine(now.date() + timedelta(days=1), time.min, UTC)
        return now + timedelta(days=policy.booking_window_days)

    def _extends_past(self, mailbox: Mailbox, master: dict, horizon: datetime) -> bool:
        """Whether any instance of the series starts after ``horizon``."""
        if master["recurrence"]["range"]["type"] == "noEnd":
            return True
        if any(
            item["type"] == "exception"
            and item["seriesMasterId"] == master["id"]
            and utc_of(item["start"]) > horizon
            for item in mailbox.items.values()
        ):
            return True
        zone = rec.resolve_zone(master["originalStartTimeZone"])
        start_time = utc_of(master["start"]).astimezone(zone).time()
        cancelled = set(master.get("_cancelled") or [])
        return any(
            start > horizon and stamp(start) not in cancelled
            for _, start in rec.occurrence_starts(
                master["recurrence"], start_time, zone, FAR_FUTURE, horizon.date()
            )
        )

    def _decide(
        self, room: Mailbox, organizer: Mailbox, item: dict
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
            (utc_of(i["start"]), utc_of(i["end"]))
            for i in instances_in(room, spans[0][0], max(end for _, end in spans))
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
        if organizer is None or item is None or room is None or room.policy is None:
            return
        if room_id not in self.invited_rooms(organizer, item):
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
        before = clone(item)
        for attendee in item["attendees"]:
            if attendee["emailAddress"]["address"].lower() == room.email.lower():
                time = stamp(self._now()) if response != "none" else NO_TIME
                attendee["status"] = {"response": response, "time": time}
        self._record(organizer, item, "updated", before)

    def _room_fields(self, room: Mailbox, organizer: Mailbox, source: dict) -> dict:
        """What the room's copy of an organizer's item (or exception) holds."""
        policy = room.policy or RoomPolicy()
        fields = {
            k: clone(v)
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
        now = stamp(self._now())
        fields.update(
            {
                "transactionId": None,
                "isOrganizer": False,
                "organizer": address_of(organizer),
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
        room: Mailbox,
        organizer: Mailbox,
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
            room_item = {"id": new_id(), "createdDateTime": stamp(self._now()), **fields}
            room_item.update({"_cancelled": [], "_rooms": {}})
            before = None
        else:
            room_item, before = existing, clone(existing)
            room_item.update(fields)
        room_item["_origin"] = {"user": organizer.user_id, "id": item["id"]}
        room_item["_cancelled"] = list(item.get("_cancelled") or [])
        room.items[room_item["id"]] = room_item
        self._record(room, room_item, "created" if before is None else "updated", before)
        if item["type"] == "seriesMaster" or (before and before["type"] == "seriesMaster"):
            self._mirror_exceptions(room, organizer, item, room_item)
        return room_item["id"]

    def _mirror_exceptions(
        self, room: Mailbox, organizer: Mailbox, item: dict, room_item: dict
    ) -> None:
        wanted = {}
        for exception in organizer.items.values():
            if exception["type"] == "exception" and exception["seriesMasterId"] == item["id"]:
                start = parse_wall(exception["originalStart"])
                wanted[occurrence_id(room_item["id"], start)] = exception
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
            before = clone(current) if current else None
            room_exception = current or {"id": room_id, "createdDateTime": stamp(self._now())}
            room_exception.update(fields)
            room_exception.update({"_cancelled": [], "_rooms": {}, "_origin": None})
            room.items[room_id] = room_exception
            self._record(room, room_exception, "created" if before is None else "updated", before)

    def _remove_room_copy(self, room: Mailbox, copy_id: str) -> None:
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
                before = clone(item)
                item["isCancelled"] = True
                item["showAs"] = "free"
                if not str(item.get("subject", "")).startswith("Canceled: "):
                    item["subject"] = "Canceled: " + str(item.get("subject", ""))
                self._record(room, item, "updated", before)
