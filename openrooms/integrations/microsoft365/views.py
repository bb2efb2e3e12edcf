"""Settings → Apps & Integrations → Office 365, and Settings → Meeting Rooms → Manage Rooms.

Views parse the request, load objects through the organisation's `access_*` helpers, call the
services, and render. Graph failures are shown with the Test settings wording.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from openrooms import crypto
from openrooms.accounts.decorators import admin_required, check_admin
from openrooms.accounts.models import Organisation
from openrooms.accounts.requests import SignedInRequest
from openrooms.accounts.services import members_of
from openrooms.integrations.microsoft365 import connection as connections
from openrooms.integrations.microsoft365 import diagnosis, health, outbound
from openrooms.integrations.microsoft365.clients import client_for, connection_of
from openrooms.integrations.microsoft365.explain import HYBRID_FIX, UNREADABLE_KEY_FIX, StepResult
from openrooms.integrations.microsoft365.forms import AddRoomForm, ConnectionForm, saved_values
from openrooms.integrations.microsoft365.graph.client import GraphClient
from openrooms.integrations.microsoft365.models import (
    Connection,
    OutboxEntry,
    RoomLink,
)
from openrooms.integrations.microsoft365.rooms import (
    NotARoom,
    RoomDirectoryFailure,
    TenantRoom,
    access_room_link_by_id,
    do_import_rooms,
    do_reimport_room,
    do_unlink_room,
    find_room_by_mailbox,
    list_tenant_rooms,
    on_premises_mailboxes,
)
from openrooms.integrations.microsoft365.subscriptions import live_subscriptions, webhooks_enabled
from openrooms.spaces.models import Office
from openrooms.spaces.office_choice import chosen_office
from openrooms.spaces.services import access_office_by_id, offices_of

# Settings → Apps & Integrations → Office 365


@sensitive_post_parameters("client_secret")
@admin_required
@sensitive_variables()  # innermost: it hides the locals of the function it calls directly
def connection_settings(request: SignedInRequest) -> HttpResponse:
    organisation = request.user.organisation
    connection = connection_of(organisation)
    form = ConnectionForm(request.POST or None, connection=connection)
    if request.method == "POST" and form.is_valid():
        connections.do_save_connection(organisation, **form.cleaned_data)
        messages.success(
            request, "Office 365 settings saved. Press Test settings to check them with Microsoft."
        )
        return redirect("microsoft365")
    context = {
        "section": "integrations",
        "form": form,
        "connection": connection,
        "steps": [StepResult(**step) for step in connection.last_test_steps] if connection else [],
        # Change notifications need a public https address; without one the sync only polls.
        "webhooks": webhooks_enabled(),
        "plain_http_base_url": settings.PUBLIC_BASE_URL.startswith("http://"),
        "linked_rooms": RoomLink.objects.filter(organisation=organisation).count(),
        "live_subscriptions": live_subscriptions(organisation).count(),
        "polling": settings.MICROSOFT_POLL_SECONDS > 0,
        "poll_seconds": f"{settings.MICROSOFT_POLL_SECONDS:g}",
        "safety_poll_seconds": f"{settings.MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS:g}",
    }
    return render(
        request, "microsoft365/settings.html", context,
        status=400 if form.is_bound and form.errors else 200,
    )


@require_POST
@admin_required
@sensitive_post_parameters("client_secret")
def test_settings(request: SignedInRequest) -> HttpResponse:
    """Starts Test settings: htmx then asks for each step in turn (`test_step`); without htmx
    every step runs here and the page shows the results. What is tested is what is saved, so
    a form holding other values (unsaved or refused) is not tested: the page says so."""
    connection = connection_or_404(request)
    also_write = request.POST.get("also_write") == "on"
    refusal = untestable_form(request, connection)
    if request.headers.get("HX-Request"):
        if refusal is not None:
            return render(request, "microsoft365/_test_refused.html", {"result": refusal})
        return render(
            request, "microsoft365/_test_run.html",
            {"next_index": 0, "next_title": diagnosis.STEPS[0].title, "also_write": also_write},
        )
    if refusal is not None:
        messages.error(request, f"{refusal.detail} {refusal.fix}")
        return redirect("microsoft365")
    for index in range(len(diagnosis.STEPS)):
        run_test_step(request, connection, index, also_write)
    return redirect("microsoft365")


def untestable_form(request: SignedInRequest, connection: Connection) -> StepResult | None:
    """Why the settings form, sent along with Test settings, cannot be what is tested: values
    it refuses, or values that differ from the saved ones. None when it holds what is saved
    (or was not sent)."""
    if "client_id" not in request.POST:
        return None
    form = ConnectionForm(request.POST, connection=connection)
    title = "Test settings"
    if not form.is_valid():
        fields = ", ".join(
            str(form.fields[name].label) for name in form.errors if name in form.fields
        )
        return StepResult(
            False, title, f"The form holds values that are not valid ({fields}), and Test "
            "settings tests the saved settings, not those.",
            "Correct the fields marked in red and Save, then test again.",
        )
    changed = [str(form.fields[name].label) for name, value in saved_values(connection).items()
               if form.cleaned_data[name] != value]
    if form.cleaned_data["client_secret"]:
        changed.append(str(form.fields["client_secret"].label))
    if changed:
        return StepResult(
            False, title, f"The form holds changes that are not saved ({', '.join(changed)}); "
            "Test settings would test the saved settings instead.",
            "Save the changes first, then test again.",
        )
    return None


@require_POST
@admin_required
def test_step(request: SignedInRequest, index: int) -> HttpResponse:
    connection = connection_or_404(request)
    if index >= len(diagnosis.STEPS):
        raise Http404("No such step.")
    also_write = request.POST.get("also_write") in {"on", "1", "true"}
    result = run_test_step(request, connection, index, also_write)
    last = index == len(diagnosis.STEPS) - 1
    context: dict[str, Any] = {"result": result, "also_write": also_write, "last": last}
    if last:
        connection.refresh_from_db()
        context["connection"] = connection
    else:
        context |= {"next_index": index + 1, "next_title": diagnosis.STEPS[index + 1].title}
    return render(request, "microsoft365/_test_step.html", context)


def run_test_step(
    request: SignedInRequest, connection: Connection, index: int, also_write: bool
) -> StepResult:
    """One step with a fresh client (no cached token), recorded on the connection."""
    step = diagnosis.STEPS[index]
    trial = diagnosis.Trial(
        also_write=also_write,
        booker_mode=connection.write_mode == Connection.WriteMode.BOOKER_CALENDAR,
        tester=request.user.email,
        members=tuple(members_of(request.user.organisation).filter(is_active=True)
                      .values_list("email", flat=True)),
    )
    try:
        client = client_for(connection)
    except crypto.SecretUnreadable as error:
        result = StepResult(False, step.title, str(error), UNREADABLE_KEY_FIX)
    else:
        with client:
            result = diagnosis.run_step(step, client, trial)
    connections.do_record_test_step(connection, index, result)
    return result


@admin_required
def disconnect(request: SignedInRequest) -> HttpResponse:
    connection = connection_or_404(request)
    if request.method == "POST":
        connections.do_disconnect(request.user.organisation)
        messages.success(
            request, "Office 365 disconnected. Imported rooms and their bookings are kept."
        )
        return redirect("microsoft365")
    return render(
        request, "microsoft365/disconnect.html",
        {"section": "integrations", "connection": connection,
         "linked_rooms": RoomLink.objects.filter(organisation=request.user.organisation).count()},
    )


@admin_required
def help_page(request: SignedInRequest) -> HttpResponse:
    return render(request, "microsoft365/help.html", {"section": "integrations"})


def connection_or_404(request: SignedInRequest) -> Connection:
    connection = connection_of(request.user.organisation)
    if connection is None:
        raise Http404("Office 365 is not connected.")
    return connection


# Settings → Apps & Integrations → Office 365 → Sync health


@admin_required
def sync_health(request: SignedInRequest) -> HttpResponse:
    organisation = request.user.organisation
    now = timezone.now()
    rooms = health.room_health_of(organisation, now)
    entries = health.entries_to_show(organisation, now)
    bookings = health.conflicts_and_declines(organisation, now)
    return render(request, "microsoft365/sync_health.html", {
        "section": "sync_health",
        "connection": connection_of(organisation),
        "summary": health.summary_of(organisation, rooms, now),
        "rooms": rooms,
        "now": now,
        "entries": entries[:health.ROWS_SHOWN],
        "entries_total": entries.count(),
        "bookings": bookings[:health.ROWS_SHOWN],
        "bookings_total": bookings.count(),
        "rows_shown": health.ROWS_SHOWN,
    })


@admin_required
def sync_health_rooms(request: SignedInRequest) -> HttpResponse:
    """The room table alone: the page refreshes it every few seconds."""
    now = timezone.now()
    return render(request, "microsoft365/_sync_rooms.html", {
        "rooms": health.room_health_of(request.user.organisation, now), "now": now,
    })


@require_POST
@login_required
def resync_room(request: SignedInRequest, link_id: int) -> HttpResponse:
    link = access_room_link_by_id(request.user.organisation, link_id)
    check_admin(request)
    health.do_request_resync(link)
    messages.success(
        request, f"Resync of {link.space.name} queued: its next pull reads the whole calendar "
        "again and reconciles it with the bookings here.",
    )
    return redirect("microsoft365_sync")


@require_POST
@login_required
def retry_outbox_entry(request: SignedInRequest, entry_id: int) -> HttpResponse:
    entry = outbound.access_outbox_entry_by_id(request.user.organisation, entry_id)
    check_admin(request)
    entry = outbound.do_retry_outbox_entry(entry, acting=request.user)
    if entry.is_open:
        messages.success(request, f"Retrying now: {describe_entry(entry)}.")
    else:
        messages.info(request, f"Nothing to retry: {describe_entry(entry)} is "
                      f"{entry.get_state_display().lower()}.")
    return redirect("microsoft365_sync")


@login_required
def give_up_outbox_entry(request: SignedInRequest, entry_id: int) -> HttpResponse:
    entry = outbound.access_outbox_entry_by_id(request.user.organisation, entry_id)
    check_admin(request)
    if request.method == "POST":
        was_open = entry.is_open
        entry = outbound.do_give_up_outbox_entry(entry, acting=request.user)
        if entry.state == OutboxEntry.State.GIVEN_UP and was_open:
            messages.success(
                request, f"Gave up on {describe_entry(entry)}: it is no longer retried.",
            )
        else:
            messages.info(request, f"Nothing to give up: {describe_entry(entry)} is "
                          f"{entry.get_state_display().lower()}.")
        return redirect("microsoft365_sync")
    return render(request, "microsoft365/give_up.html", {"section": "sync_health", "entry": entry})


def describe_entry(entry: OutboxEntry) -> str:
    booking = entry.booking
    start = booking.start.astimezone(booking.space.office.zone)
    return f"“{entry.get_kind_display()}” for {booking.space.name} on {start:%-d %b %Y, %H:%M}"


# Settings → Meeting Rooms → Manage Rooms


@admin_required
def manage_rooms(request: SignedInRequest) -> HttpResponse:
    return render_manage_rooms(request, chosen_office(request))


@admin_required
def room_listing(request: SignedInRequest) -> HttpResponse:
    """The tenant's rooms as a fragment the Manage Rooms page loads (it can take a while)."""
    organisation = request.user.organisation
    office = access_office_by_id(organisation, request.GET.get("office"))
    connection = connection_of(organisation)
    context: dict[str, Any] = {"office": office, "connection": connection}
    if connection is not None:
        try:
            rooms = tenant_rooms(organisation, connection)
        except Failed as failed:
            context["failure"] = failed.result
        else:
            room_list = request.GET.get("room_list", "")
            building = request.GET.get("building", "")
            context |= {
                "total": len(rooms),
                "room_lists": sorted({r.room_list for r in rooms if r.room_list}),
                "buildings": sorted({r.room.building for r in rooms if r.room.building}),
                "room_list": room_list,
                "building": building,
                "rooms": [
                    r for r in rooms
                    if (not room_list or r.room_list == room_list)
                    and (not building or r.room.building == building)
                ],
            }
    return render(request, "microsoft365/_room_listing.html", context)


@require_POST
@admin_required
def import_rooms(request: SignedInRequest) -> HttpResponse:
    organisation = request.user.organisation
    office = access_office_by_id(organisation, request.POST.get("office"))
    connection = connection_of(organisation)
    chosen = {mailbox.lower() for mailbox in request.POST.getlist("mailbox")}
    if connection is None:
        return redirect("microsoft365")
    if not chosen:
        messages.error(request, "Tick the rooms to import first.")
        return redirect_to_manage(office)
    try:
        with graph_client(connection, "Listing the rooms") as client:
            listing = list_tenant_rooms(organisation, client)
            found = [r for r in listing if r.room.email_address.lower() in chosen]
            on_premises = on_premises_mailboxes(client, [r.room.email_address for r in found])
    except Failed as failed:
        return render_manage_rooms(request, office, failure=failed.result)
    missing = chosen - {r.room.email_address.lower() for r in found}
    if missing:
        return render_manage_rooms(request, office, failure=StepResult(
            False, "Listing the rooms",
            f"Microsoft 365 no longer lists {', '.join(sorted(missing))}. Nothing was imported.",
            "Press Refresh to see the current list, then import again.",
        ))
    if on_premises:
        messages.error(request, f"Not imported: {', '.join(sorted(on_premises))} "
                       f"{'is' if len(on_premises) == 1 else 'are'} hosted in on-premises "
                       f"Exchange. {HYBRID_FIX}")
        found = [r for r in found if r.room.email_address not in on_premises]
        if not found:
            return redirect_to_manage(office)
    room_lists = {r.room.email_address.lower(): r.room_list for r in listing}
    try:
        links = do_import_rooms(
            organisation, office, [r.room for r in found], room_lists=room_lists
        )
    except ValidationError as error:
        return render_manage_rooms(request, office, failure=StepResult(
            False, "Importing the rooms",
            "Nothing was imported: " + " ".join(error.messages),
            "Correct the room's details in the Exchange admin center, then import again.",
        ))
    messages.success(
        request,
        f"Imported {len(links)} room{'' if len(links) == 1 else 's'} into {office.name}: "
        + ", ".join(link.space.name for link in links) + ".",
    )
    return redirect_to_manage(office)


@require_POST
@admin_required
def add_room(request: SignedInRequest) -> HttpResponse:
    organisation = request.user.organisation
    office = access_office_by_id(organisation, request.POST.get("office"))
    connection = connection_of(organisation)
    if connection is None:
        return redirect("microsoft365")
    form = AddRoomForm(request.POST)
    if not form.is_valid():
        return render_manage_rooms(request, office, add_form=form, status=400)
    mailbox = form.cleaned_data["mailbox"].lower()
    try:
        with graph_client(connection, "Reading the mailbox") as client:
            room = find_room_by_mailbox(client, mailbox)
    except Failed as failed:
        return render_manage_rooms(request, office, add_form=form, failure=failed.result)
    except NotARoom as refusal:
        form.add_error("mailbox", refusal.message)
        return render_manage_rooms(request, office, add_form=form, status=422)
    try:
        [link] = do_import_rooms(organisation, office, [room], room_lists={})
    except ValidationError as error:
        form.add_error(None, " ".join(error.messages))
        return render_manage_rooms(request, office, add_form=form, status=400)
    messages.success(request, f"Added {link.space.name} ({link.mailbox}) to {office.name}.")
    return redirect_to_manage(office)


@require_POST
@login_required
def reimport_room(request: SignedInRequest, link_id: int) -> HttpResponse:
    link = access_room_link_by_id(request.user.organisation, link_id)
    check_admin(request)
    connection = connection_of(request.user.organisation)
    office = link.space.office
    if connection is None:
        return redirect("microsoft365")
    try:
        with graph_client(connection, "Listing the rooms") as client:
            link = do_reimport_room(request.user.organisation, link, client)
    except Failed as failed:
        return render_manage_rooms(request, office, failure=failed.result)
    except NotARoom as refusal:
        messages.error(request, f"Nothing was updated: {refusal.message}")
        return redirect_to_manage(office)
    except ValidationError as error:
        messages.error(request, "Nothing was updated: " + " ".join(error.messages))
        return redirect_to_manage(office)
    messages.success(request, f"Updated {link.space.name} from Microsoft 365.")
    return redirect_to_manage(office)


@login_required
def unlink_room(request: SignedInRequest, link_id: int) -> HttpResponse:
    link = access_room_link_by_id(request.user.organisation, link_id)
    check_admin(request)
    office = link.space.office
    if request.method == "POST":
        do_unlink_room(link)
        messages.success(
            request, f"{link.space.name} is no longer linked to {link.mailbox}; the room and its "
            "bookings are kept.",
        )
        return redirect_to_manage(office)
    return render(
        request, "microsoft365/unlink.html",
        {"section": "meeting_rooms", "link": link, "office": office},
    )


class Failed(Exception):
    """A Graph step that failed, explained for the admin; nothing was changed."""

    def __init__(self, result: StepResult) -> None:
        super().__init__(result.detail)
        self.result = result


@contextmanager
def graph_client(connection: Connection, step: str) -> Iterator[GraphClient]:
    """A fresh client; RoomDirectoryFailure and an unreadable secret come out as `Failed`."""
    try:
        client = client_for(connection)
    except crypto.SecretUnreadable as error:
        raise Failed(StepResult(False, step, str(error), UNREADABLE_KEY_FIX)) from error
    with client:
        try:
            yield client
        except RoomDirectoryFailure as failure:
            raise Failed(failure.explain(client)) from failure


def tenant_rooms(organisation: Organisation, connection: Connection) -> list[TenantRoom]:
    with graph_client(connection, "Listing the rooms") as client:
        return list_tenant_rooms(organisation, client)


def render_manage_rooms(
    request: SignedInRequest,
    office: Office | None,
    *,
    add_form: AddRoomForm | None = None,
    failure: StepResult | None = None,
    status: int = 200,
) -> HttpResponse:
    organisation = request.user.organisation
    links = RoomLink.objects.filter(organisation=organisation).select_related("space__office")
    context = {
        "section": "meeting_rooms",
        "connection": connection_of(organisation),
        "offices": offices_of(organisation).order_by("name"),
        "office": office,
        "links": links,
        "add_form": add_form or AddRoomForm(),
        "failure": failure,
        "room_list": request.GET.get("room_list", ""),
        "building": request.GET.get("building", ""),
    }
    return render(request, "microsoft365/manage_rooms.html", context, status=status)


def redirect_to_manage(office: Office) -> HttpResponse:
    return redirect(f"{reverse('microsoft365_rooms')}?office={office.pk}")
