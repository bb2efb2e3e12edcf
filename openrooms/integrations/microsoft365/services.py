"""The Microsoft 365 connection and imported rooms: reads, writes and the Graph client for them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from openrooms import crypto
from openrooms.accounts.models import Account, Organisation
from openrooms.integrations.microsoft365.diagnosis import (
    RENEWAL_STEPS,
    StepResult,
    explain_graph_failure,
    explain_token_failure,
)
from openrooms.integrations.microsoft365.graph import (
    Credentials,
    GraphClient,
    GraphFailure,
    Room,
    TokenFailure,
    user_path,
)
from openrooms.integrations.microsoft365.models import Connection, RoomLink
from openrooms.spaces.models import Office, Space
from openrooms.spaces.services import get_or_404

# Days before the secret's expiry on which admins are warned (and the day after it).
EXPIRY_WARNING_DAYS = (30, 14, 1)


def connection_of(organisation: Organisation) -> Connection | None:
    return Connection.objects.filter(organisation=organisation).first()


def webhooks_enabled() -> bool:
    """Graph only notifies https addresses: without one (PUBLIC_BASE_URL) the sync polls."""
    return settings.PUBLIC_BASE_URL.startswith("https://")


@sensitive_variables("credentials")
def client_for(connection: Connection, **options: object) -> GraphClient:
    """A new client, with no token cached, for the organisation's tenant."""
    credentials = Credentials(
        tenant_id=connection.tenant_id,
        client_id=connection.client_id,
        client_secret=crypto.decrypt(connection.client_secret_encrypted),
    )
    return GraphClient(credentials, **options)  # type: ignore[arg-type]


# Not @transaction.atomic: its wrapper's frame would hold the secret in an error report.
@sensitive_variables("client_secret")
def do_save_connection(
    organisation: Organisation,
    *,
    tenant_id: str,
    client_id: str,
    client_secret: str | None,
    secret_expires_on: dt.date | None,
    write_mode: str,
) -> Connection:
    """Saves the credentials; `client_secret=None` keeps the stored one."""
    with transaction.atomic():
        connection = connection_of(organisation) or Connection(organisation=organisation)
        if client_secret is None and not connection.client_secret_encrypted:
            raise ValueError("A new connection needs a client secret.")
        changed = (connection.tenant_id, connection.client_id) != (tenant_id, client_id)
        connection.tenant_id = tenant_id
        connection.client_id = client_id
        connection.secret_expires_on = secret_expires_on
        connection.write_mode = write_mode
        if client_secret is not None:
            connection.client_secret_encrypted = crypto.encrypt(client_secret)
            connection.secret_set_at = timezone.now()
            changed = True
        if changed:
            # Results of another secret or app say nothing about these credentials.
            connection.last_test_at = None
            connection.last_test_ok = None
            connection.last_test_steps = []
        connection.save()
        return connection


def do_disconnect(organisation: Organisation) -> None:
    """Forgets the credentials; imported rooms and their bookings stay. The rooms'
    change-notification subscriptions are deleted first, while the credentials still exist
    (best effort: a failure is logged, the disconnect goes on)."""
    from openrooms.integrations.microsoft365 import webhooks  # it imports this module

    webhooks.drop_subscriptions_of(organisation)
    Connection.objects.filter(organisation=organisation).delete()


def do_record_test_step(connection: Connection, index: int, result: StepResult) -> None:
    steps = list(connection.last_test_steps) if index else []
    steps[index:] = [result.as_dict()]
    connection.last_test_steps = steps
    connection.last_test_at = timezone.now()
    connection.last_test_ok = all(step["ok"] for step in steps)
    connection.save(update_fields=["last_test_steps", "last_test_at", "last_test_ok"])


def expiry_warning(connection: Connection | None, today: dt.date) -> int | None:
    """Days left (negative once expired) when admins should be reminded, else None."""
    if connection is None or connection.secret_expires_on is None:
        return None
    days_left = (connection.secret_expires_on - today).days
    return days_left if days_left <= max(EXPIRY_WARNING_DAYS) else None


def expiry_notice(days_left: int, expires_on: dt.date) -> str:
    """The sentence the banner and the e-mail open with."""
    on = expires_on.strftime("%-d %B %Y")
    if days_left > 1:
        return f"The Microsoft 365 client secret expires in {days_left} days, on {on}."
    if days_left == 1:
        return f"The Microsoft 365 client secret expires tomorrow, {on}."
    if days_left == 0:
        return f"The Microsoft 365 client secret expires today, {on}."
    return (
        f"The Microsoft 365 client secret expired on {on}: rooms no longer sync with "
        "Microsoft 365."
    )


def send_secret_expiry_warnings(today: dt.date) -> int:
    """E-mails each active admin of an organisation whose secret expires in 30, 14 or 1 days,
    or expired yesterday. Returns the number of e-mails sent. Run once a day."""
    days = {today + dt.timedelta(days=n): n for n in EXPIRY_WARNING_DAYS}
    days[today - dt.timedelta(days=1)] = -1
    connections = Connection.objects.filter(secret_expires_on__in=days).select_related(
        "organisation"
    )
    page = settings.PUBLIC_BASE_URL + reverse("microsoft365")
    messages = []
    for connection in connections:
        assert connection.secret_expires_on is not None  # (the filter above; for the type)
        notice = expiry_notice(days[connection.secret_expires_on], connection.secret_expires_on)
        body = (
            f"{notice}\n\nTo renew it: {RENEWAL_STEPS}\n\n"
            "Then, in openrooms, open Settings → Apps & Integrations → Office 365 "
            f"({page}), press Replace secret, paste the new Value with its expiry date, save "
            "and press Test settings.\n"
        )
        admins = Account.objects.filter(
            organisation=connection.organisation, role=Account.Role.ADMIN, is_active=True
        ).values_list("email", flat=True)
        subject = f"[openrooms] {notice.split(':')[0]}"
        messages += [(subject, body, None, [email]) for email in admins]
    return send_mass_mail(messages) if messages else 0


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
        space.name = unique_space_name(space, room.display_name or mailbox)
        space.capacity = room.capacity or space.capacity or 1
        space.amenities = room_amenities(room)
        space.full_clean()
        space.save()
        link = link or RoomLink(organisation=organisation, space=space, mailbox=mailbox)
        link.graph_room_id = room.id
        link.display_name = room.display_name
        link.building = room.building or ""
        link.floor_label = room.floor_label or (
            str(room.floor_number) if room.floor_number is not None else ""
        )
        link.room_list = room_lists.get(mailbox, "")
        link.last_seen_in_places_at = now
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
    """A room not (yet) in Places, checked by opening its calendar.

    Raises RoomDirectoryFailure (a GraphFailure) naming the step that failed.
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        client.peek_calendar(mailbox, now, now + dt.timedelta(hours=1))
    except GraphFailure as failure:
        raise RoomDirectoryFailure(
            "Reading the mailbox's calendar", "Calendars.ReadWrite", failure, mailbox
        ) from failure
    try:
        user = client.get(user_path(mailbox), {"$select": "id,displayName,mail"})
    except GraphFailure as failure:
        raise RoomDirectoryFailure(
            "Reading the mailbox's name", "Directory.Read.All", failure, mailbox
        ) from failure
    return Room(
        id=user.get("id", ""), email_address=mailbox,
        display_name=user.get("displayName") or mailbox.split("@")[0],
    )


def do_reimport_room(organisation: Organisation, link: RoomLink, client: GraphClient) -> RoomLink:
    """Copies a linked room's current details from Places (or its mailbox) onto its space."""
    listed = {
        tenant_room.room.email_address.lower(): tenant_room
        for tenant_room in list_tenant_rooms(organisation, client)
    }
    found = listed.get(link.mailbox.lower())
    room = found.room if found else find_room_by_mailbox(client, link.mailbox)
    room_lists = {link.mailbox.lower(): found.room_list} if found else {}
    [link] = do_import_rooms(organisation, link.space.office, [room], room_lists=room_lists)
    return link


def access_room_link_by_id(organisation: Organisation, link_id: object) -> RoomLink:
    return get_or_404(RoomLink.objects.filter(organisation=organisation), link_id)


def do_unlink_room(link: RoomLink) -> None:
    """Stops syncing a room; the space and its bookings stay. Its change-notification
    subscription is deleted at Microsoft once this commits (best effort)."""
    from openrooms.integrations.microsoft365 import webhooks  # it imports this module

    webhooks.drop_subscription_after_commit(link)
    link.delete()
