"""The tenant's rooms: listing them from Places, importing them as room spaces, unlinking one.

Rooms are imported again to refresh their details, and one can be added by its mailbox. Only
rooms become rooms: a person's mailbox would show its owner's calendar to every member, and an
on-premises (hybrid) mailbox cannot be reached through Graph at all, so both are refused."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from openrooms.accounts.models import Organisation
from openrooms.integrations.microsoft365.explain import (
    HYBRID_FIX,
    StepResult,
    explain_graph_failure,
    explain_token_failure,
)
from openrooms.integrations.microsoft365.graph.client import GraphClient
from openrooms.integrations.microsoft365.graph.failures import (
    GraphFailure,
    TokenFailure,
    is_on_premises,
)
from openrooms.integrations.microsoft365.graph.replies import Room, RoomList
from openrooms.integrations.microsoft365.models import RoomLink
from openrooms.integrations.microsoft365.room_mailboxes import do_flag_room_mailbox
from openrooms.integrations.microsoft365.subscriptions import drop_subscription_after_commit
from openrooms.spaces.models import Office, Space
from openrooms.spaces.services import do_save, get_or_404


@dataclass(frozen=True)
class TenantRoom:
    """A room as the Manage Rooms page lists it."""

    room: Room
    room_list: str
    link: RoomLink | None


class RoomDirectoryFailure(GraphFailure):
    """A GraphFailure while reading rooms, with the step it happened in (for the admin)."""

    def __init__(
        self, step: str, permission: str, cause: GraphFailure, mailbox: str | None = None
    ) -> None:
        super().__init__(
            cause.message, status=cause.status, code=cause.code, permanent=cause.permanent,
            retry_after=cause.retry_after,
        )
        self.step = step
        self.permission = permission
        self.cause = cause
        self.mailbox = mailbox

    def explain(self, client: GraphClient) -> StepResult:
        """The Test settings wording for this failure, titled with the step that failed."""
        if isinstance(self.cause, TokenFailure):
            result = explain_token_failure(self.cause, client)
            return StepResult(False, self.step, result.detail, result.fix)
        return explain_graph_failure(self.cause, self.step, self.permission, self.mailbox)


class NotARoom(ValueError):
    """A mailbox that may not become a room; `message` says why and what to do instead, and
    `problem` is how a room already linked to it is flagged (room_mailboxes)."""

    def __init__(self, mailbox: str, message: str, problem: str = "") -> None:
        super().__init__(message)
        self.mailbox = mailbox
        self.message = message
        self.problem = problem


def on_premises_refusal(mailbox: str) -> NotARoom:
    return NotARoom(mailbox, f"{mailbox} is hosted in on-premises Exchange. {HYBRID_FIX}",
                    RoomLink.MailboxProblem.ON_PREMISES)


def person_refusal(mailbox: str, purpose: str) -> NotARoom:
    kind = {"user": "a person's", "linked": "a person's (linked)", "shared": "a shared",
            "equipment": "an equipment"}.get(purpose, f"a {purpose}")
    return NotARoom(
        mailbox,
        f"{mailbox} is {kind} mailbox, not a room: its calendar would show on the Book page and "
        "the plan to every member. Add the room's own mailbox (Exchange admin center → "
        "Recipients → Resources).",
        RoomLink.MailboxProblem.PERSON,
    )


def list_tenant_rooms(organisation: Organisation, client: GraphClient) -> list[TenantRoom]:
    """Every room of the tenant's Places directory (all pages), with its room list and link.

    Raises RoomDirectoryFailure naming the step (rooms, room lists) that failed.
    """
    try:
        rooms = client.rooms()
    except GraphFailure as failure:
        raise RoomDirectoryFailure("Listing the rooms", "Place.Read.All", failure) from failure
    list_of: dict[str, str] = {}
    try:
        for room_list in client.room_lists():
            for member in client.rooms_in_list(room_list.email_address):
                list_of[member.email_address.lower()] = room_list.display_name
    except GraphFailure as failure:
        raise RoomDirectoryFailure("Reading the room lists", "Place.Read.All", failure) from failure
    links = {
        link.mailbox.lower(): link
        for link in RoomLink.objects.filter(organisation=organisation).select_related(
            "space__office"
        )
    }
    return [
        TenantRoom(room, list_of.get(room.email_address.lower(), ""),
                   links.get(room.email_address.lower()))
        for room in sorted(rooms, key=lambda r: (r.building or "", r.display_name))
    ]


def room_amenities(room: Room) -> list[str]:
    amenities = [tag for tag in room.tags if tag]
    for device in (room.audio_device_name, room.video_device_name, room.display_device_name):
        if device:
            amenities.append(device)
    if room.is_wheel_chair_accessible:
        amenities.append("wheelchair accessible")
    return list(dict.fromkeys(amenities))


@transaction.atomic
def do_import_rooms(
    organisation: Organisation, office: Office, rooms: list[Room], *, room_lists: dict[str, str]
) -> list[RoomLink]:
    """Creates (or, when already linked, updates) a room space per Places room. All or nothing.

    `room_lists` maps a mailbox (lower case) to the name of the room list it belongs to.
    """
    if office.organisation_id != organisation.pk:
        raise ValueError("That office belongs to another organisation.")
    now = timezone.now()
    links = []
    for room in rooms:
        mailbox = room.email_address.lower()
        link = RoomLink.objects.filter(organisation=organisation, mailbox=mailbox).first()
        space = link.space if link else Space(office=office, kind=Space.Kind.ROOM)
        do_save(
            space,
            name=unique_space_name(space, room.display_name or mailbox),
            capacity=room.capacity or space.capacity or 1,
            amenities=room_amenities(room),
        )
        link = link or RoomLink(organisation=organisation, space=space, mailbox=mailbox)
        link.graph_room_id = room.id
        link.display_name = room.display_name
        link.building = room.building or ""
        link.floor_label = room.floor_label or (
            str(room.floor_number) if room.floor_number is not None else ""
        )
        link.room_list = room_lists.get(mailbox, "")
        link.last_seen_in_places_at = now
        link.mailbox_checked_at = now  # the caller had Places or Exchange say it is a room
        link.save()
        links.append(link)
    return links


def unique_space_name(space: Space, wanted: str) -> str:
    """`wanted`, or `wanted (2)`… when another room of the office already has the name."""
    taken = set(
        Space.objects.filter(office_id=space.office_id, kind=Space.Kind.ROOM)
        .exclude(pk=space.pk)
        .values_list("name", flat=True)
    )
    name, n = wanted[:200], 2
    while name in taken:
        name = f"{wanted[:190]} ({n})"
        n += 1
    return name


def find_room_by_mailbox(client: GraphClient, mailbox: str) -> Room:
    """The room behind `mailbox`: from Places, or for a room Places does not list yet, from
    Exchange's own word that the mailbox is a room (mailboxSettings.userPurpose).

    Raises NotARoom for a person's, shared or on-premises mailbox or a room list, and
    RoomDirectoryFailure (a GraphFailure naming the step) when Graph cannot tell.
    """
    try:
        place = client.place(mailbox)
    except GraphFailure as failure:
        raise RoomDirectoryFailure(
            "Looking the mailbox up in Places", "Place.Read.All", failure, mailbox
        ) from failure
    if isinstance(place, RoomList):
        raise NotARoom(mailbox, f"{mailbox} is a room list: import its rooms from the list.")
    if place is None:
        try:
            purpose = client.mailbox_purpose(mailbox)
        except GraphFailure as failure:
            if is_on_premises(failure):
                raise on_premises_refusal(mailbox) from failure
            raise RoomDirectoryFailure(
                "Checking that the mailbox is a room", "MailboxSettings.Read", failure, mailbox
            ) from failure
        if purpose != "room":
            raise person_refusal(mailbox, purpose)
    if mailbox in on_premises_mailboxes(client, [mailbox]):
        raise on_premises_refusal(mailbox)
    if place is not None:
        return place
    try:
        user = client.user(mailbox)
    except GraphFailure as failure:
        raise RoomDirectoryFailure(
            "Reading the mailbox's name", "Directory.Read.All", failure, mailbox
        ) from failure
    return Room(
        id=user.id, email_address=mailbox, display_name=user.display_name or mailbox.split("@")[0],
    )


def on_premises_mailboxes(client: GraphClient, mailboxes: list[str]) -> set[str]:
    """Which of `mailboxes` are hosted on-premises, found by opening their calendars (a
    `$batch` call per 20). Raises RoomDirectoryFailure when a calendar fails for another reason."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        failures = client.unreachable_calendars(mailboxes, now, now + dt.timedelta(hours=1))
    except GraphFailure as failure:
        raise RoomDirectoryFailure(
            "Reading the rooms' calendars", "Calendars.ReadWrite", failure
        ) from failure
    for mailbox, calendar_failure in failures.items():
        if not is_on_premises(calendar_failure):
            raise RoomDirectoryFailure(
                "Reading the room's calendar", "Calendars.ReadWrite", calendar_failure, mailbox
            ) from calendar_failure
    return set(failures)


def do_reimport_room(organisation: Organisation, link: RoomLink, client: GraphClient) -> RoomLink:
    """Copies a linked room's current details from Places (or its mailbox) onto its space."""
    listed = {
        tenant_room.room.email_address.lower(): tenant_room
        for tenant_room in list_tenant_rooms(organisation, client)
    }
    found = listed.get(link.mailbox.lower())
    try:
        room = found.room if found else find_room_by_mailbox(client, link.mailbox)
    except NotARoom as refusal:
        if refusal.problem:
            do_flag_room_mailbox(link, refusal.problem)
        raise
    room_lists = {link.mailbox.lower(): found.room_list} if found else {}
    [link] = do_import_rooms(organisation, link.space.office, [room], room_lists=room_lists)
    return link


def access_room_link_by_id(organisation: Organisation, link_id: object) -> RoomLink:
    return get_or_404(RoomLink.objects.filter(organisation=organisation), link_id)


def do_unlink_room(link: RoomLink) -> None:
    """Stops syncing a room; the space and its bookings stay. Its change-notification
    subscription is deleted at Microsoft once this commits (best effort)."""
    drop_subscription_after_commit(link)
    link.delete()
