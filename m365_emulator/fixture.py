"""The tenant fixture: who exists in the emulated Microsoft 365 tenant (see README "Fixture")."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

DEFAULT_FIXTURE = Path(__file__).parent / "fixtures" / "demo.json"

# Places room fields as the room resource documents them; unset ones are answered as null.
ROOM_FIELDS = (
    "id", "emailAddress", "displayName", "address", "geoCoordinates", "phone", "nickname",
    "label", "capacity", "building", "floorNumber", "floorLabel", "isWheelChairAccessible",
    "bookingType", "tags", "audioDeviceName", "videoDeviceName", "displayDeviceName",
)
ROOM_LIST_FIELDS = ("id", "emailAddress", "displayName", "address", "geoCoordinates", "phone")


@dataclass(frozen=True)
class Secret:
    id: str
    value: str
    expires: datetime


@dataclass(frozen=True)
class App:
    name: str
    client_id: str
    secrets: tuple[Secret, ...]
    permissions: tuple[str, ...]
    # Exchange RBAC for Applications scoped to RecipientTypeDetails -eq 'RoomMailbox'.
    room_mailboxes_only: bool = False


@dataclass
class Mailbox:
    """A user or room mailbox: both are user objects in the directory."""

    id: str
    email: str
    display_name: str
    is_room: bool = False
    on_premises: bool = False
    in_places: bool = True
    room_list: str | None = None
    places: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    job_title: str | None = None


@dataclass(frozen=True)
class MeetingPlan:
    """`generate_meetings`: a busy tenant's room calendars, made up deterministically (see
    README "Fixture format")."""

    rooms: str = "generated"  # "generated": the gen-room-* mailboxes; "all": every room
    days_back: int = 45
    days_ahead: int = 45
    per_day: int = 6
    recurring_share: float = 0.25
    private_share: float = 0.05
    cancelled_share: float = 0.02
    time_zone: str = "Europe/London"
    seed: int = 1


@dataclass
class Tenant:
    id: str
    display_name: str
    domains: tuple[str, ...]
    apps: list[App]
    mailboxes: list[Mailbox]
    room_lists: list[dict[str, Any]]
    events: list[dict[str, Any]]
    meeting_plan: MeetingPlan | None = None
    today: date = field(default_factory=date.today)

    @property
    def default_domain(self) -> str:
        return self.domains[0]

    def app(self, client_id: str) -> App | None:
        return next((a for a in self.apps if a.client_id.lower() == client_id.lower()), None)

    def mailbox(self, key: str) -> Mailbox | None:
        """Resolve /users/{id|userPrincipalName}: ids and addresses are case-insensitive."""
        key = key.lower()
        return next((m for m in self.mailboxes if key in (m.id.lower(), m.email.lower())), None)

    def rooms(self) -> list[Mailbox]:
        return [m for m in self.mailboxes if m.is_room]


def _expand_dates(value: Any, today: date) -> Any:
    """Replace "{today}" / "{today+N}" / "{today-N}" so demo events sit near the current day."""
    if isinstance(value, dict):
        return {k: _expand_dates(v, today) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_dates(v, today) for v in value]
    if isinstance(value, str) and "{today" in value:
        start = value.index("{today")
        end = value.index("}", start)
        token = value[start + 6:end]
        offset = int(token) if token else 0
        return value[:start] + (today + timedelta(days=offset)).isoformat() + value[end + 1:]
    return value


def _room_places(raw: dict[str, Any], room_id: str) -> dict[str, Any]:
    places = {name: raw.get(name) for name in ROOM_FIELDS}
    # Older Graph examples spell these differently; accept both in fixtures.
    if places["isWheelChairAccessible"] is None:
        places["isWheelChairAccessible"] = raw.get("isWheelchairAccessible")
    if places["displayDeviceName"] is None:
        places["displayDeviceName"] = raw.get("displayDevice")
    places["id"] = room_id
    places["tags"] = raw.get("tags") or []
    places["bookingType"] = raw.get("bookingType") or "standard"
    return places


def _generated_rooms(count: int, domain: str, room_list: str | None) -> list[dict[str, Any]]:
    return [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"generated-room-{i}@{domain}")),
            "emailAddress": f"gen-room-{i:03d}@{domain}",
            "displayName": f"Generated Room {i:03d}",
            "capacity": 4 + i % 12,
            "building": "Generated",
            "floorNumber": i % 10,
            "floorLabel": str(i % 10),
            "room_list": room_list,
        }
        for i in range(1, count + 1)
    ]


def load_fixture(path: str | Path | None = None, *, today: date | None = None) -> Tenant:
    """Load a fixture file (default: the shipped demo tenant)."""
    data = json.loads(Path(path or DEFAULT_FIXTURE).read_text())
    return parse_fixture(data, today=today)


def parse_fixture(data: dict[str, Any], *, today: date | None = None) -> Tenant:
    today = today or date.today()
    t = data["tenant"]
    domains = tuple(t["domains"])
    apps = [
        App(
            name=a["name"],
            client_id=a["client_id"],
            secrets=tuple(
                Secret(s["id"], s["value"], datetime.fromisoformat(s["expires"]))
                for s in a.get("secrets", [])
            ),
            permissions=tuple(a.get("permissions", [])),
            room_mailboxes_only=a.get("room_mailboxes_only", False),
        )
        for a in data.get("apps", [])
    ]
    mailboxes = [
        Mailbox(
            id=u["id"], email=u["userPrincipalName"], display_name=u["displayName"],
            on_premises=u.get("on_premises", False), job_title=u.get("jobTitle"),
        )
        for u in data.get("users", [])
    ]
    rooms = list(data.get("rooms", []))
    lists = data.get("room_lists", [])
    generated = data.get("generate_rooms", 0)
    if generated:
        first_list = lists[0]["emailAddress"] if lists else None
        rooms += _generated_rooms(generated, domains[0], first_list)
    for r in rooms:
        room_id = r.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, r["emailAddress"]))
        mailboxes.append(
            Mailbox(
                id=room_id, email=r["emailAddress"], display_name=r["displayName"], is_room=True,
                on_premises=r.get("on_premises", False), in_places=r.get("in_places", True),
                room_list=r.get("room_list"), places=_room_places(r, room_id),
                policy=r.get("policy", {}),
            )
        )
    room_lists = [
        {**{name: rl.get(name) for name in ROOM_LIST_FIELDS},
         "id": rl.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, rl["emailAddress"]))}
        for rl in lists
    ]
    plan = data.get("generate_meetings")
    known = {f.name for f in fields(MeetingPlan)}
    if plan is not None and set(plan) - known:
        raise ValueError(f"generate_meetings: unknown keys {sorted(set(plan) - known)}")
    return Tenant(
        id=t["id"], display_name=t.get("display_name", domains[0]), domains=domains, apps=apps,
        mailboxes=mailboxes, room_lists=room_lists,
        events=_expand_dates(data.get("events", []), today),
        meeting_plan=MeetingPlan(**plan) if plan is not None else None, today=today,
    )


# --- generated meetings ----------------------------------------------------------------------

DAY_START = time(8)  # meetings between 08:00 and 18:00 in the plan's zone, on half hours
SLOTS_A_DAY = 20
TOPICS = ("Sprint planning", "1:1", "Customer call", "Design review", "Interviews",
          "Budget review", "Team sync", "Training", "Retrospective", "Board preparation")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


def generated_meetings(tenant: Tenant) -> Iterator[tuple[Mailbox, dict[str, Any]]]:
    """(room mailbox, event payload) for every meeting `generate_meetings` asks for.

    Each room gets, on working days in [today - days_back, today + days_ahead), about
    `per_day` meetings of 30, 60 or 90 minutes between 08:00 and 18:00 that never overlap:
    weekly series take `recurring_share` of them, single meetings the rest. A meeting is what
    the room's booking assistant leaves in its calendar after accepting a user's invitation
    (organizer a user, subject per the room's DeleteSubject/AddOrganizerToSubject, private flag
    cleared), except the `private_share` written straight into the room's calendar as private
    meetings; `cancelled_share` are kept cancelled, as RemoveCanceledMeetings=false leaves them.
    Generated from `seed` and the room's address: the same fixture gives the same calendars.
    """
    plan = tenant.meeting_plan
    if plan is None:
        return
    people = [m for m in tenant.mailboxes if not m.is_room and not m.on_premises]
    rooms = [m for m in tenant.rooms() if not m.on_premises
             and (plan.rooms == "all" or m.email.startswith("gen-room-"))]
    first = tenant.today - timedelta(days=plan.days_back)
    days = [first + timedelta(days=n) for n in range(plan.days_back + plan.days_ahead)]
    working = [day for day in days if day.weekday() < 5]
    if not working:
        return
    for room in rooms:
        yield from _room_meetings(plan, room, people, working)


def _room_meetings(plan: MeetingPlan, room: Mailbox, people: list[Mailbox],
                   working: list[date]) -> Iterator[tuple[Mailbox, dict[str, Any]]]:
    rng = random.Random(f"{plan.seed}:{room.email.lower()}")
    weekly: list[list[bool]] = [[False] * SLOTS_A_DAY for _ in WEEKDAYS]
    series_count = round(plan.per_day * len(WEEKDAYS) * plan.recurring_share)
    series_by_day = [0] * len(WEEKDAYS)
    for _ in range(series_count):
        weekday, length = rng.randrange(len(WEEKDAYS)), rng.choice((1, 2, 2))
        slot = _free_slot(rng, weekly[weekday], length)
        if slot is None:
            continue
        series_by_day[weekday] += 1
        day = next((d for d in working if d.weekday() == weekday), None)
        if day is None:
            continue
        recurrence = {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [WEEKDAYS[weekday]],
                        "firstDayOfWeek": "monday"},
            "range": {"type": "endDate", "startDate": day.isoformat(),
                      "endDate": working[-1].isoformat()},
        }
        yield room, _meeting(plan, rng, room, people, day, slot, length, recurrence)
    for day in working:
        taken = list(weekly[day.weekday()])
        wanted = plan.per_day - series_by_day[day.weekday()] + rng.choice((-1, 0, 0, 1))
        for _ in range(max(wanted, 0)):
            length = rng.choices((1, 2, 3), weights=(4, 5, 1))[0]
            slot = _free_slot(rng, taken, length)
            if slot is not None:
                yield room, _meeting(plan, rng, room, people, day, slot, length, None)


def _free_slot(rng: random.Random, taken: list[bool], length: int) -> int | None:
    """A random start among the half hours where `length` free ones follow; marks them."""
    starts = [s for s in range(SLOTS_A_DAY - length + 1) if not any(taken[s:s + length])]
    if not starts:
        return None
    slot = rng.choice(starts)
    taken[slot:slot + length] = [True] * length
    return slot


def _meeting(plan: MeetingPlan, rng: random.Random, room: Mailbox, people: list[Mailbox],
             day: date, slot: int, length: int, recurrence: dict | None) -> dict[str, Any]:
    start = datetime.combine(day, DAY_START) + timedelta(minutes=30 * slot)
    end = start + timedelta(minutes=30 * length)
    payload: dict[str, Any] = {
        "start": {"dateTime": start.isoformat(), "timeZone": plan.time_zone},
        "end": {"dateTime": end.isoformat(), "timeZone": plan.time_zone},
        "location": {"displayName": room.display_name},
        "showAs": "busy",
    }
    if recurrence is not None:
        payload["recurrence"] = recurrence
    topic = rng.choice(TOPICS)
    private = rng.random() < plan.private_share
    if private or not people:
        # Written straight into the room's calendar: the room is the organizer and nothing
        # strips the private flag or the subject.
        payload.update(subject=topic, sensitivity="private" if private else "normal")
    else:
        organizer = rng.choice(people)
        guests = rng.sample(people, k=min(len(people), rng.randint(1, 3)))
        policy = room.policy or {}
        subject = topic
        if policy.get("auto_accept", True) and policy.get("add_organizer_to_subject", True):
            subject = organizer.display_name
        elif policy.get("auto_accept", True) and policy.get("delete_subject", True):
            subject = ""
        payload.update(
            subject=subject, sensitivity="normal",
            organizer={"emailAddress": {"name": organizer.display_name,
                                        "address": organizer.email}},
            attendees=[*({"type": "required",
                          "emailAddress": {"name": g.display_name, "address": g.email}}
                         for g in guests if g is not organizer),
                       {"type": "resource",
                        "emailAddress": {"name": room.display_name, "address": room.email}}],
        )
    if recurrence is None and rng.random() < plan.cancelled_share:
        payload["isCancelled"] = True
    return payload
