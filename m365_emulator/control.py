"""The loopback-only control API under /_emulator/api/ (JSON), for tests, benchmarks and demos.

  GET    config                          the --print-config JSON
  GET    counters                        requests per endpoint/mailbox, max concurrency, 429s
  POST   reset {"calendars": bool}        counters, faults and rate windows (and calendars)
  GET    faults / DELETE faults          list / remove injected faults
  POST   faults {kind, duration_seconds, share, count, path_contains, retry_after, delay_ms}
  GET    subscriptions                   every subscription, all apps
  POST   subscriptions/{id}/lifecycle {"event": "subscriptionRemoved" | ...}
  POST   delta/invalidate {"mailbox": addr?}   outstanding delta tokens answer 410
  POST   places/publish {"room": addr}   a "not yet in Places" room shows up (Places lags ~24 h)
  POST   outlook/book {organizer, room, subject, start, end, timeZone?}
  POST   outlook/move {mailbox, event_id, start, end, timeZone?}
  POST   outlook/cancel {mailbox, event_id, comment?}
  GET    mailboxes/{addr}/calendar?start=&end=   rendered calendarView, no auth, no throttling
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .calendar.render import render_event
from .errors import GraphError
from .fixture import Mailbox
from .messages import Request, Response, graph_error
from .throttling import Fault

if TYPE_CHECKING:
    from .server import Emulator

FAULT_KINDS = ("429", "503", "slow", "down")
LIFECYCLE_EVENTS = ("subscriptionRemoved", "reauthorizationRequired", "missed")


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


class Control:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        routes = [
            ("GET", r"config", self.config),
            ("GET", r"counters", self.counters),
            ("POST", r"reset", self.reset),
            ("GET", r"faults", self.list_faults),
            ("POST", r"faults", self.add_fault),
            ("DELETE", r"faults", self.clear_faults),
            ("GET", r"subscriptions", self.list_subscriptions),
            ("POST", r"subscriptions/(?P<sub>[^/]+)/lifecycle", self.lifecycle),
            ("POST", r"delta/invalidate", self.invalidate_delta),
            ("POST", r"places/publish", self.publish_room),
            ("POST", r"outlook/book", self.book),
            ("POST", r"outlook/move", self.move),
            ("POST", r"outlook/cancel", self.cancel),
            ("GET", r"mailboxes/(?P<mailbox>[^/]+)/calendar", self.calendar),
        ]
        self.routes = [(m, re.compile(f"^/_emulator/api/{p}/?$"), h) for m, p, h in routes]

    def handle(self, request: Request) -> Response:
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                try:
                    return handler(request, match)
                except GraphError as error:
                    return graph_error(error, request)
        return Response.json(404, {"error": f"no control route {request.method} {request.path}"})

    def _mailbox(self, address: Any) -> Mailbox:
        mailbox = self.emulator.tenant.mailbox(str(address or ""))
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"Unknown mailbox '{address}'.")
        return mailbox

    # -- handlers --------------------------------------------------------------------------------
    def config(self, request: Request, match: re.Match) -> Response:
        return Response.json(200, self.emulator.config())

    def counters(self, request: Request, match: re.Match) -> Response:
        subs = self.emulator.subscriptions
        return Response.json(200, {**self.emulator.throttle.counters.as_json(),
                                   "notifications_delivered": subs.delivered,
                                   "notifications_failed": subs.failed,
                                   "rba_pending": self.emulator.store.pending_rba()})

    def reset(self, request: Request, match: re.Match) -> Response:
        self.emulator.throttle.reset()
        if (request.json() or {}).get("calendars"):
            self.emulator.reset_calendars()
        return Response(204)

    def list_faults(self, request: Request, match: re.Match) -> Response:
        return Response.json(200, {"value": [asdict(f) for f in self.emulator.throttle.faults()]})

    def add_fault(self, request: Request, match: re.Match) -> Response:
        body = request.json() or {}
        kind = str(body.get("kind", ""))
        if kind not in FAULT_KINDS:
            raise _bad(f"kind must be one of {', '.join(FAULT_KINDS)}")
        duration = body.get("duration_seconds")
        fault = Fault(
            kind=kind,
            until=time.monotonic() + float(duration) if duration is not None else None,
            share=float(body.get("share", 1.0)),
            count=int(body["count"]) if body.get("count") is not None else None,
            path_contains=str(body.get("path_contains", "")),
            retry_after=int(body.get("retry_after", 1)),
            delay_ms=int(body.get("delay_ms", 0)),
        )
        self.emulator.throttle.add_fault(fault)
        return Response.json(201, asdict(fault))

    def clear_faults(self, request: Request, match: re.Match) -> Response:
        self.emulator.throttle.clear_faults()
        return Response(204)

    def list_subscriptions(self, request: Request, match: re.Match) -> Response:
        return Response.json(200, {"value": [s.as_graph()
                                             for s in self.emulator.subscriptions.all()]})

    def lifecycle(self, request: Request, match: re.Match) -> Response:
        event = (request.json() or {}).get("event", "subscriptionRemoved")
        if event not in LIFECYCLE_EVENTS:
            raise _bad(f"event must be one of {', '.join(LIFECYCLE_EVENTS)}")
        if not self.emulator.subscriptions.lifecycle(match["sub"], event):
            raise GraphError(404, "ResourceNotFound", "No such subscription.")
        return Response(202)

    def invalidate_delta(self, request: Request, match: re.Match) -> Response:
        address = (request.json() or {}).get("mailbox")
        self.emulator.delta.invalidate(self._mailbox(address).id if address else None)
        return Response(204)

    def publish_room(self, request: Request, match: re.Match) -> Response:
        room = self._mailbox((request.json() or {}).get("room"))
        if not room.is_room:
            raise _bad(f"'{room.email}' is not a room mailbox.")
        room.in_places = True
        return Response(204)

    def book(self, request: Request, match: re.Match) -> Response:
        """What Outlook does when a user books a room: an event in the user's own mailbox with
        the room as a resource attendee; the room's booking assistant answers later."""
        body = request.json() or {}
        organizer, room = self._mailbox(body.get("organizer")), self._mailbox(body.get("room"))
        zone = body.get("timeZone", "UTC")
        payload = {
            "subject": body.get("subject", "Meeting"),
            "start": {"dateTime": body["start"], "timeZone": zone},
            "end": {"dateTime": body["end"], "timeZone": zone},
            "location": {"displayName": room.display_name},
            "attendees": [{"type": "resource", "emailAddress": {
                "address": room.email, "name": room.display_name}}],
        }
        if body.get("recurrence"):
            payload["recurrence"] = body["recurrence"]
        event = self.emulator.store.create_event(organizer.id, payload)
        return Response.json(201, render_event(event))

    def move(self, request: Request, match: re.Match) -> Response:
        body = request.json() or {}
        mailbox = self._mailbox(body.get("mailbox"))
        zone = body.get("timeZone", "UTC")
        event = self.emulator.store.update_event(mailbox.id, str(body.get("event_id")), {
            "start": {"dateTime": body["start"], "timeZone": zone},
            "end": {"dateTime": body["end"], "timeZone": zone},
        })
        return Response.json(200, render_event(event))

    def cancel(self, request: Request, match: re.Match) -> Response:
        body = request.json() or {}
        mailbox = self._mailbox(body.get("mailbox"))
        self.emulator.store.cancel_event(mailbox.id, str(body.get("event_id")),
                                         body.get("comment", ""))
        return Response(202)

    def calendar(self, request: Request, match: re.Match) -> Response:
        mailbox = self._mailbox(unquote(match["mailbox"]))
        start = _moment(request.query.get("start")) or datetime.now(UTC).replace(
            hour=0, minute=0, second=0, microsecond=0)
        end = _moment(request.query.get("end")) or start + timedelta(days=1)
        store = self.emulator.store
        zone = request.query.get("timeZone", "UTC")
        return Response.json(200, {"value": [render_event(e, timezone=zone) for e in
                                             store.calendar_view(mailbox.id, start, end)]})


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
