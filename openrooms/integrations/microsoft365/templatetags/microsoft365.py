"""The integration's template tags: the client-secret expiry banner for administrators, the
Office 365 card of Apps & Integrations, whether the organisation is connected, and what a
booking's booker should know of its place in Outlook."""

from __future__ import annotations

from typing import cast

from django import template
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from openrooms.accounts.models import Account
from openrooms.bookings.models import Booking
from openrooms.integrations.microsoft365.clients import connection_of
from openrooms.integrations.microsoft365.connection import expiry_notice, expiry_warning
from openrooms.integrations.microsoft365.explain import RENEWAL_STEPS
from openrooms.integrations.microsoft365.models import Connection, OutboxEntry, RoomLink
from openrooms.integrations.microsoft365.outbound import NO_MAILBOX_IN_TENANT

register = template.Library()


@register.simple_tag(takes_context=True)
def microsoft365_expiry_banner(context: template.Context) -> SafeString:
    """From 30 days before the secret expires (and after), for admins; once per page, so the
    settings layout and a page of its own may both ask for it."""
    if context.render_context.get("microsoft365_banner_shown"):
        return mark_safe("")
    context.render_context["microsoft365_banner_shown"] = True
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_admin:
        return mark_safe("")
    connection = connection_of(user.organisation)
    days_left = expiry_warning(connection, timezone.localdate())
    if connection is None or connection.secret_expires_on is None or days_left is None:
        return mark_safe("")
    return render_to_string(
        "microsoft365/_expiry_banner.html",
        {
            "expired": days_left < 0,
            "notice": expiry_notice(days_left, connection.secret_expires_on),
            "renewal_steps": RENEWAL_STEPS,
        },
        request=request,
    )


@register.inclusion_tag("microsoft365/_integration_card.html", takes_context=True)
def microsoft365_integration_card(context: template.Context) -> dict[str, object]:
    """The Office 365 entry of Settings → Apps & Integrations: status and the last test."""
    request = context["request"]
    return {"connection": connection_of(request.user.organisation)}


@register.simple_tag(takes_context=True)
def microsoft365_connected(context: template.Context) -> bool:
    """`{% microsoft365_connected as connected %}`: pages outside the integration say what
    it offers in the words of its state."""
    return connection_of(context["request"].user.organisation) is not None


ROOM_CALENDAR_INSTEAD = "Written to the room's calendar (you have no Microsoft 365 mailbox)."
NOT_IN_OUTLOOK = "Not in Outlook: this room's mailbox cannot be synced (see Sync health)."


@register.simple_tag(takes_context=True)
def outlook_note(context: template.Context, booking: Booking) -> str:
    """`{% outlook_note booking %}`: "not in Outlook" for a room whose mailbox is flagged, or,
    in booker's-calendar mode, that it went to the room's calendar because its booker has no
    mailbox in the tenant. Three queries for a whole list of bookings, on the first call: kept
    on the request, as each included booking item renders in a context of its own."""
    request = context["request"]
    facts = getattr(request, "outlook_facts", None)
    if facts is None:
        facts = request.outlook_facts = outlook_facts(request)
    problems, rerouted = facts
    if problems.get(booking.space_id):
        return NOT_IN_OUTLOOK
    if booking.pk in rerouted:
        return ROOM_CALENDAR_INSTEAD
    return ""


def outlook_facts(request: HttpRequest) -> tuple[dict[int, str], set[int]]:
    account = cast(Account, request.user)  # bookings are listed on signed-in pages only
    organisation = account.organisation
    connection = connection_of(organisation)
    if connection is None:
        return {}, set()
    problems = dict(
        RoomLink.objects.filter(organisation=organisation).exclude(mailbox_problem="")
        .values_list("space_id", "mailbox_problem")
    )
    rerouted: set[int] = set()
    if connection.write_mode == Connection.WriteMode.BOOKER_CALENDAR:
        rerouted = set(
            OutboxEntry.objects.filter(organisation=organisation, booking__booker=account,
                                       note__contains=NO_MAILBOX_IN_TENANT)
            .values_list("booking_id", flat=True)
        )
    return problems, rerouted
