"""The integration's template tags: the client-secret expiry banner for administrators, the
Office 365 card of Apps & Integrations, and whether the organisation is connected."""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from openrooms.integrations.microsoft365.clients import connection_of
from openrooms.integrations.microsoft365.connection import expiry_notice, expiry_warning
from openrooms.integrations.microsoft365.explain import RENEWAL_STEPS

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
