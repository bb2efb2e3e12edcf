"""Linked rooms whose mailbox is not a room's after all: a person's (added by its address before
the import checked) or one hosted in on-premises Exchange.

Such a room is flagged: nothing is read from its calendar (a person's meetings must not show
to every member) and nothing is written to it; the meetings already copied from a person's
calendar are removed; sync health says why and the room's bookings say "not in Outlook".
Rooms imported now are checked at import (rooms.py); one linked before that is checked once,
at its first pull.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone

from openrooms.bookings.models import Booking
from openrooms.bookings.outlook import do_apply_outlook_meetings
from openrooms.integrations.microsoft365.explain import HYBRID_FIX
from openrooms.integrations.microsoft365.graph.client import GraphClient
from openrooms.integrations.microsoft365.graph.failures import GraphFailure, is_on_premises
from openrooms.integrations.microsoft365.models import RoomLink

logger = logging.getLogger(__name__)
Problem = RoomLink.MailboxProblem


class RoomNotInOutlook(GraphFailure):
    """What is owed to a flagged room: it cannot be delivered, and trying again will not help."""

    def __init__(self, link: RoomLink) -> None:
        super().__init__(problem_text(link), permanent=True, code="RoomNotInOutlook")


def problem_text(link: RoomLink) -> str:
    if link.mailbox_problem == Problem.PERSON:
        return (f"Not in Outlook: {link.mailbox} is a person's mailbox, not a room, so nothing "
                "is read from or written to it. Unlink it and add the room's own mailbox.")
    if link.mailbox_problem == Problem.ON_PREMISES:
        return (f"Not in Outlook: {link.mailbox} is hosted in on-premises Exchange, which "
                f"Microsoft Graph cannot reach. {HYBRID_FIX}")
    return ""


def do_flag_room_mailbox(link: RoomLink, problem: str, *, now: dt.datetime | None = None) -> None:
    logger.warning("Room mailbox %s flagged: %s", link.mailbox, problem)
    link.mailbox_problem, link.mailbox_checked_at = problem, now or timezone.now()
    RoomLink.objects.filter(pk=link.pk).update(
        mailbox_problem=problem, mailbox_checked_at=link.mailbox_checked_at
    )
    if problem == Problem.PERSON:
        copied = list(Booking.objects.filter(
            space_id=link.space_id, source=Booking.Source.OUTLOOK,
        ).exclude(graph_event_id="").values_list("graph_event_id", flat=True))
        if copied:
            do_apply_outlook_meetings(link.space, [], copied)


def flag_if_on_premises(link: RoomLink, failure: GraphFailure) -> bool:
    """Flags the room when `failure` is Graph saying its mailbox is on-premises."""
    if not is_on_premises(failure):
        return False
    do_flag_room_mailbox(link, Problem.ON_PREMISES)
    return True


def check_room_mailbox(link: RoomLink, client: GraphClient, *, now: dt.datetime) -> None:
    """Once per room linked before imports checked: is the mailbox a room's (mailboxSettings)?
    An app without the permission to ask (403) is not asked again; an outage is, next pull."""
    if link.mailbox_problem or link.mailbox_checked_at:
        return
    try:
        purpose = client.mailbox_purpose(link.mailbox)
    except GraphFailure as failure:
        if flag_if_on_premises(link, failure):
            return
        logger.info("Could not check that %s is a room: %s", link.mailbox, failure)
        if failure.status == 403:
            RoomLink.objects.filter(pk=link.pk).update(mailbox_checked_at=now)
        return
    if purpose != "room":
        do_flag_room_mailbox(link, Problem.PERSON, now=now)
        return
    link.mailbox_checked_at = now
    RoomLink.objects.filter(pk=link.pk).update(mailbox_checked_at=now)
