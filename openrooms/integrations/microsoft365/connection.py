"""The organisation's Microsoft 365 connection: its credentials, Test settings, secret expiry.

Saving and forgetting its credentials, the Test settings record, and the client secret's expiry
(the banner, the e-mails)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_tasks import task

from openrooms import crypto
from openrooms.accounts.models import Account, Organisation
from openrooms.integrations.microsoft365.clients import connection_of
from openrooms.integrations.microsoft365.explain import RENEWAL_STEPS, StepResult
from openrooms.integrations.microsoft365.models import Connection
from openrooms.integrations.microsoft365.subscriptions import drop_subscriptions_of

# Days before the secret's expiry on which admins are warned (and the day after it).
EXPIRY_WARNING_DAYS = (30, 14, 1)


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
    drop_subscriptions_of(organisation)
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


def email_secret_expiry_warnings(today: dt.date) -> int:
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


@task()
def send_secret_expiry_warnings() -> int:
    """E-mails admins whose Azure app secret expires soon; the scheduler enqueues it daily."""
    return email_secret_expiry_warnings(timezone.localdate())
