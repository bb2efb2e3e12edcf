"""The tenant fixture: who exists in the emulated Microsoft 365 tenant (see README "Fixture")."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
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


@dataclass
class Tenant:
    id: str
    display_name: str
    domains: tuple[str, ...]
    apps: list[App]
    mailboxes: list[Mailbox]
    room_lists: list[dict[str, Any]]
    events: list[dict[str, Any]]

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
    return Tenant(
        id=t["id"], display_name=t.get("display_name", domains[0]), domains=domains, apps=apps,
        mailboxes=mailboxes, room_lists=room_lists,
        events=_expand_dates(data.get("events", []), today),
    )
