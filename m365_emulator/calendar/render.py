"""Stored events and instances as Graph's event JSON: times in the zone asked for, $select.

All-day events float: they render at midnight of their own dates in whatever zone is asked
(assumed from Outlook's behaviour).
"""

from __future__ import annotations

import re
from datetime import UTC

from .. import recurrence as rec
from .model import utc_of, wall


def _preview(body: dict) -> str:
    if not body.get("content"):
        return ""
    text = re.sub(r"<[^>]*>", " ", str(body.get("content") or ""))
    return re.sub(r"\s+", " ", text).strip()[:255]


def render_event(event: dict, *, timezone: str = "UTC", select: list[str] | None = None) -> dict:
    """An event or instance as Graph's JSON, times in ``timezone``; $select keeps id+etag.

    The answer shares nested values with ``event``, which must be the caller's own copy
    (every public method of the store returns copies)."""
    zone = rec.resolve_zone(timezone)
    utc = zone is UTC
    label = timezone or "UTC"
    if "@removed" in event:
        return dict(event)
    own_zone = rec.resolve_zone(event.get("originalStartTimeZone"))

    def when(value: dict) -> dict:
        if utc and not event.get("isAllDay"):
            return {"dateTime": value["dateTime"], "timeZone": label}  # stored in UTC
        moment = utc_of(value)
        if event.get("isAllDay"):
            # All-day events float: the same dates whatever zone is asked for.
            local = moment.astimezone(own_zone).replace(tzinfo=None)
        else:
            local = moment.astimezone(zone).replace(tzinfo=None)
        return {"dateTime": wall(local), "timeZone": label}

    body = event.get("body") or {}
    shaped = {
        "@odata.etag": f'W/"{event["changeKey"]}"',
        "id": event["id"],
        "createdDateTime": event["createdDateTime"],
        "lastModifiedDateTime": event["lastModifiedDateTime"],
        "changeKey": event["changeKey"],
        "categories": list(event.get("categories") or []),
        "transactionId": event.get("transactionId"),
        "originalStartTimeZone": event.get("originalStartTimeZone"),
        "originalEndTimeZone": event.get("originalEndTimeZone"),
        "iCalUId": event["iCalUId"],
        "reminderMinutesBeforeStart": event.get("reminderMinutesBeforeStart", 15),
        "isReminderOn": event.get("isReminderOn", True),
        "hasAttachments": False,
        "subject": event.get("subject", ""),
        "bodyPreview": _preview(body),
        "importance": event.get("importance", "normal"),
        "sensitivity": event.get("sensitivity", "normal"),
        "isAllDay": bool(event.get("isAllDay")),
        "isCancelled": bool(event.get("isCancelled")),
        "isOrganizer": bool(event.get("isOrganizer")),
        "responseRequested": event.get("responseRequested", True),
        "seriesMasterId": event.get("seriesMasterId"),
        "showAs": event.get("showAs", "busy"),
        "type": event["type"],
        "webLink": "https://outlook.office365.com/owa/?itemid="
        + event["id"]
        + "&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": bool(event.get("isOnlineMeeting")),
        "onlineMeetingProvider": event.get("onlineMeetingProvider", "unknown"),
        "allowNewTimeProposals": event.get("allowNewTimeProposals", True),
        "isDraft": False,
        "hideAttendees": event.get("hideAttendees", False),
        "originalStart": event.get("originalStart"),
        "responseStatus": event.get("responseStatus"),
        "body": {
            "contentType": body.get("contentType", "text"),
            "content": body.get("content", ""),
        },
        "start": when(event["start"]),
        "end": when(event["end"]),
        "location": event.get("location"),
        "locations": event.get("locations") or [],
        "recurrence": event.get("recurrence"),
        "attendees": event.get("attendees") or [],
        "organizer": event.get("organizer"),
        "onlineMeeting": None,
    }
    if shaped["originalStart"] is None:
        del shaped["originalStart"]
    if select:
        wanted = {name.strip().lower() for name in select}
        return {
            key: value
            for key, value in shaped.items()
            if key in ("@odata.etag", "id") or key.lower() in wanted
        }
    return shaped
