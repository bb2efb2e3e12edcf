"""What is kept of an Outlook event, and how a page of them becomes bookings.

Delta gives instances (series expanded, as calendarView does), each its own booking keyed on
(space, event id). Delta ignores `$select`: `graph.replies.CalendarInstance` keeps id,
iCalUId, transactionId, start, end, isCancelled, showAs, sensitivity and organizer, and the
subject, which is stored only when the organisation shows subjects and the meeting is neither
private nor confidential; the rest of Graph's JSON is dropped as each page is parsed.

Every write goes through `bookings.outlook.do_apply_outlook_meetings`: a page of a full round
(and any page of at least BULK_FROM_ITEMS items) at once, in one transaction; a small
incremental round (the usual: a change or two) item by item, each in its own short
transaction. Both give the same bookings: the tests run the same pages through both
(test_inbound_bulk.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid

from openrooms.accounts.models import Organisation
from openrooms.bookings.models import Booking
from openrooms.bookings.outlook import Outcome, OutlookMeeting, do_apply_outlook_meetings
from openrooms.integrations.microsoft365.graph.replies import CalendarInstance
from openrooms.integrations.microsoft365.models import RoomLink

# Outlook's "private" flag; confidential is stricter still. Neither shows a subject here.
PRIVATE_SENSITIVITIES = {"private", "confidential"}
# Pages this big (and every page of a full round) are applied together.
BULK_FROM_ITEMS = 20
Window = tuple[dt.datetime, dt.datetime]


def applicable_times(
    item: CalendarInstance, window: Window
) -> tuple[dt.datetime, dt.datetime] | None:
    """The instance's [start, end) in UTC, or None when it is not applied: a series master
    (its instances come on their own), no times, or outside the window."""
    if item.start is None or item.end is None or item.type == "seriesMaster":
        return None
    start, end = item.start.utc, item.end.utc
    if end <= window[0] or start >= window[1] or end <= start:
        return None
    return start, end


def meeting_of(
    item: CalendarInstance, organisation: Organisation, times: tuple[dt.datetime, dt.datetime]
) -> OutlookMeeting:
    private = (item.sensitivity or "").lower() in PRIVATE_SENSITIVITIES
    # A private meeting's subject is never stored, whatever the setting says.
    shown = organisation.show_meeting_subjects and not private
    address = item.organizer.email_address if item.organizer else None
    return OutlookMeeting(
        event_id=item.id,
        start=times[0],
        end=times[1],
        ical_uid=item.ical_uid[:512],
        transaction_id=as_uuid(item.transaction_id),
        title=(item.subject or "")[:255] if shown else "",
        is_private=private,
        organizer_name=((address.name or "") if address else "")[:200],
        organizer_email=((address.address or "") if address else "").lower()[:254],
        show_as=(item.show_as or "")[:20],
        is_cancelled=item.is_cancelled,
    )


def as_uuid(value: str | None) -> uuid.UUID | None:
    """A transactionId we may have set; someone else's can be any text."""
    if value:
        with contextlib.suppress(ValueError):
            return uuid.UUID(value)
    return None


def apply_items(
    link: RoomLink, organisation: Organisation, items: list[CalendarInstance], window: Window
) -> Outcome:
    """Applies delta items (a page, or one item) together in one transaction, with the
    result of applying them one by one."""
    latest: dict[str, CalendarInstance] = {}
    for item in items:  # an item repeated within the page: its last version counts
        latest.pop(item.id, None)
        latest[item.id] = item
    removed = [item.id for item in latest.values() if item.is_removed]
    meetings = [
        meeting_of(item, organisation, times) for item in latest.values()
        if not item.is_removed and (times := applicable_times(item, window)) is not None
    ]
    return do_apply_outlook_meetings(link.space, meetings, removed)


def remove_unseen(link: RoomLink, seen: set[str], window: Window) -> int:
    """After a full sync: the room's Outlook bookings in the window it did not see are gone;
    returns how many were cancelled.

    Reads outside a transaction (on SQLite every transaction takes the write lock): the
    pull's lease keeps other pulls of the room away, and the cancelling transaction reads
    each booking again under the space's lock."""
    stale = [
        event_id for event_id in Booking.objects.filter(
            space_id=link.space_id, source=Booking.Source.OUTLOOK,
            status__in=(Booking.Status.CONFIRMED, Booking.Status.CONFLICT),
            start__lt=window[1], end__gt=window[0],
        ).values_list("graph_event_id", flat=True)
        if event_id not in seen
    ]
    if not stale:
        return 0
    return do_apply_outlook_meetings(link.space, [], stale).removed
