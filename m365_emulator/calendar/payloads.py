"""What clients send for an event, validated and made canonical: fields, enums, times, attendees."""

from __future__ import annotations

from datetime import datetime

from .. import recurrence as rec
from ..errors import GraphError
from .model import NO_TIME, parse_wall, utc_of, wall

FREE_BUSY = {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"}
SENSITIVITIES = {"normal", "personal", "private", "confidential"}
IMPORTANCES = {"low", "normal", "high"}
ATTENDEE_TYPES = {"required", "optional", "resource"}

# Fields a client may set, as Graph names them, with the default of a new event.
WRITABLE_DEFAULTS: dict[str, object] = {
    "subject": "",
    "body": {"contentType": "text", "content": ""},
    "importance": "normal",
    "sensitivity": "normal",
    "showAs": "busy",
    "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"},
    "locations": [],
    "categories": [],
    "isOnlineMeeting": False,
    "onlineMeetingProvider": "unknown",
    "isReminderOn": True,
    "reminderMinutesBeforeStart": 15,
    "responseRequested": True,
    "allowNewTimeProposals": True,
    "hideAttendees": False,
}
TIME_FIELDS = ("start", "end", "isAllDay", "recurrence")


def invalid(message: str = "At least one property failed validation.") -> GraphError:
    return GraphError(400, "ErrorPropertyValidationFailure", message)


def _enum(value: object, allowed: set[str], type_name: str) -> str:
    # Graph reads enum members case-insensitively (assumed) and answers in camelCase.
    canonical = {name.lower(): name for name in allowed}
    if str(value).lower() not in canonical:
        # What Graph's OData reader says about a bad enum literal.
        raise GraphError(
            400,
            "RequestBodyRead",
            f"Cannot convert the literal '{value}' to the expected type "
            f"'microsoft.graph.{type_name}'.",
        )
    return canonical[str(value).lower()]


def normalise_attendees(attendees: object) -> list[dict]:
    if not isinstance(attendees, list):
        raise invalid()
    result = []
    for attendee in attendees:
        if not isinstance(attendee, dict):
            raise invalid()
        email = attendee.get("emailAddress") or {}
        if not email.get("address"):
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        result.append(
            {
                "type": _enum(attendee.get("type", "required"), ATTENDEE_TYPES, "attendeeType"),
                # Only the attendee answers: a status sent by the organizer is not kept.
                "status": {"response": "none", "time": NO_TIME},
                "emailAddress": {
                    "name": email.get("name") or email["address"],
                    "address": email["address"],
                },
            }
        )
    return result


def check_enums(item: dict) -> None:
    item["showAs"] = _enum(item["showAs"], FREE_BUSY, "freeBusyStatus")
    item["sensitivity"] = _enum(item["sensitivity"], SENSITIVITIES, "sensitivity")
    item["importance"] = _enum(item["importance"], IMPORTANCES, "importance")


def parse_times(payload: dict, base: dict | None) -> dict:
    """start/end/isAllDay/recurrence of a payload (over ``base`` for PATCH), validated."""
    result: dict = {}
    for field in ("start", "end"):
        value = payload.get(field)
        if value is None and base is not None:
            result[field] = base[field]
            result["_zone_" + field] = base[
                "originalStartTimeZone" if field == "start" else "originalEndTimeZone"
            ]
            continue
        if not isinstance(value, dict) or not value.get("dateTime"):
            raise invalid(f"The {field} time of the event is required.")
        zone_name = value.get("timeZone") or "UTC"
        zone = rec.resolve_zone(zone_name)
        try:
            moment = parse_wall(str(value["dateTime"]))
        except ValueError:
            raise invalid(f"The {field} time of the event is not a valid date.") from None
        if moment.tzinfo is not None:
            moment = moment.astimezone(zone).replace(tzinfo=None)
        utc = rec.to_utc(moment, zone)
        result[field] = {"dateTime": wall(utc.replace(tzinfo=None)), "timeZone": "UTC"}
        result["_zone_" + field] = zone_name
    all_day = payload.get("isAllDay", base.get("isAllDay") if base else False)
    result["isAllDay"] = bool(all_day)
    start, end = utc_of(result["start"]), utc_of(result["end"])
    if end < start:
        raise invalid("The end time of the event is before its start time.")
    if result["isAllDay"]:
        zone = rec.resolve_zone(result["_zone_start"])
        for moment in (start, end):
            if moment.astimezone(zone).time() != datetime.min.time():
                raise invalid(
                    "An all-day event's start and end must be at midnight in its time zone."
                )
        if end == start:
            raise invalid("An all-day event must last at least one day.")
    if "recurrence" in payload:
        value = payload["recurrence"]
        result["recurrence"] = rec.validate(value) if value else None
    else:
        result["recurrence"] = base.get("recurrence") if base else None
    return result
