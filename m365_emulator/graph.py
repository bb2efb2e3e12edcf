"""Graph v1.0 routes: users, places, room calendars (through the calendar store) and delta.

Each handler gets the verified caller, checks the roles it needs and answers Graph JSON.
Subscriptions and $batch live in their own modules and are dispatched from here.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode

from .calendar.render import render_event
from .delta import DeltaState, DeltaTokens
from .errors import GraphError
from .fixture import Mailbox, Tenant
from .identity import Caller
from .messages import Request, Response
from .odata import apply_list_query
from .throttling import Fault, Throttle

GRAPH_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata"
# Stands for a page's items, encoded beforehand, in a body being encoded (a NUL cannot be in
# the context or a link, so this string occurs once).
ENCODED_VALUE = "\x00value\x00"
ACCESS_DENIED = "Access is denied. Check credentials and try again."


@dataclass
class GraphOptions:
    latency_ms: int = 0
    calendar_page_size: int = 10  # calendarView default page ("List calendarView" examples)
    places_page_size: int = 100  # Places default page per "List places"
    users_page_size: int = 100
    delta_page_size: int = 10
    # The most an Outlook collection page holds, whatever $top or odata.maxpagesize asks
    # ($top of "List messages": 1 to 1000; Microsoft documents no other cap for events).
    max_page_size: int = 1000


Handler = Callable[[Request, Caller, re.Match], Response]


def _exchange_role(caller: Caller, *roles: str) -> None:
    if not caller.roles.intersection(roles):
        raise GraphError(403, "ErrorAccessDenied", ACCESS_DENIED)


def _directory_role(caller: Caller, *roles: str) -> None:
    if not caller.roles.intersection(roles):
        raise GraphError(403, "Authorization_RequestDenied",
                         "Insufficient privileges to complete the operation.")


def _parse_prefer(request: Request) -> dict[str, str]:
    prefer = request.headers.get("prefer", "")
    found = dict(re.findall(r'([\w.]+)\s*=\s*"?([^",]*)"?', prefer))
    return {k.lower(): v for k, v in found.items()}


def _parse_window_value(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "+"))
    except ValueError:
        raise GraphError(400, "ErrorInvalidParameter",
                         f"The value '{value}' of parameter 'StartDateTime' is invalid.") from None
    # A value without offset is UTC ("List calendarView": startDateTime in ISO 8601, UTC).
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _window(request: Request) -> tuple[str, str, datetime, datetime]:
    lowered = {k.lower(): v for k, v in request.query.items()}
    start, end = lowered.get("startdatetime"), lowered.get("enddatetime")
    if not start or not end:
        # Wording seen in Graph's answer (microsoftgraph/microsoft-graph-docs#57).
        raise GraphError(400, "ErrorInvalidParameter",
                         "This request requires a time window specified by the query string "
                         "parameters StartDateTime and EndDateTime.")
    return start, end, _parse_window_value(start), _parse_window_value(end)


class GraphApi:
    def __init__(self, tenant: Tenant, store: Any, throttle: Throttle, delta: DeltaTokens,
                 options: GraphOptions, base_url: Callable[[], str]) -> None:
        self.tenant = tenant
        self.store = store
        self.throttle = throttle
        self.delta = delta
        self.options = options
        self.base_url = base_url
        self.extra_routes: list[tuple[str, re.Pattern, Handler]] = []
        mbox = r"/users/(?P<user>[^/]+)(?:/calendar)?"
        routes: list[tuple[str, str, Handler]] = [
            ("GET", r"/users", self.list_users),
            ("GET", r"/users/(?P<user>[^/]+)", self.get_user),
            ("GET", r"/places/microsoft\.graph\.room", self.list_rooms),
            ("GET", r"/places/microsoft\.graph\.roomlist", self.list_room_lists),
            ("GET", r"/places/(?P<list>[^/]+)/microsoft\.graph\.roomlist/rooms",
             self.list_rooms_in_list),
            ("GET", r"/places/(?P<place>[^/]+)", self.get_place),
            ("GET", r"/users/(?P<user>[^/]+)/mailboxSettings", self.get_mailbox_settings),
            ("GET", r"/users/(?P<user>[^/]+)/mailboxSettings/(?P<setting>[^/]+)",
             self.get_mailbox_setting),
            ("GET", mbox + r"/calendarView", self.calendar_view),
            ("GET", mbox + r"/calendarView/delta", self.calendar_view_delta),
            ("GET", mbox + r"/events", self.list_events),
            ("POST", mbox + r"/events", self.create_event),
            ("GET", mbox + r"/events/(?P<event>[^/]+)", self.get_event),
            ("PATCH", mbox + r"/events/(?P<event>[^/]+)", self.update_event),
            ("DELETE", mbox + r"/events/(?P<event>[^/]+)", self.delete_event),
            ("POST", mbox + r"/events/(?P<event>[^/]+)/cancel", self.cancel_event),
        ]
        self.routes: list[tuple[str, re.Pattern, Handler]] = [
            (m, re.compile(p + "$", re.I), h) for m, p, h in routes
        ]

    def add_routes(self, routes: list[tuple[str, str, Handler]]) -> None:
        self.routes += [(m, re.compile(p + "$", re.I), h) for m, p, h in routes]

    @property
    def graph_url(self) -> str:
        return f"{self.base_url()}/v1.0"

    # -- dispatch ----------------------------------------------------------------------------
    def dispatch(self, request: Request, caller: Caller) -> Response:
        """Route a request whose path is relative to /v1.0 (also used by $batch)."""
        path = request.path.rstrip("/") or "/"
        allowed = []
        for method, pattern, handler in self.routes:
            match = pattern.match(path)
            if match:
                if method == request.method:
                    return self._run(handler, request, caller, match)
                allowed.append(method)
        if path == "/me" or path.startswith("/me/"):
            # App-only tokens have no signed-in user; Graph's answer for /me with one.
            raise GraphError(400, "BadRequest",
                             "/me request is only valid with delegated authentication flow.")
        if allowed:
            raise GraphError(405, "Request_BadRequest",
                             f"The HTTP method '{request.method}' is not allowed.")
        raise GraphError(400, "BadRequest", f"Resource not found for the segment "
                                            f"'{path.strip('/').split('/')[-1]}'.")

    def _run(self, handler: Handler, request: Request, caller: Caller,
             match: re.Match) -> Response:
        label = match.re.pattern.rstrip("$").replace("(?:/calendar)?", "").replace("\\", "")
        endpoint = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", label)
        user = match.groupdict().get("user")
        mailbox = self.tenant.mailbox(unquote(user)) if user else None
        self.throttle.count(f"{request.method} {endpoint}", mailbox.email if mailbox else None)
        fault = self.throttle.pick_fault(request.path)
        if fault is not None and fault.kind != "slow":
            raise fault_error(fault)
        # Latency and slow faults are spent holding the mailbox slot, as a slow Exchange would.
        delay_ms = self.options.latency_ms + (fault.delay_ms if fault is not None else 0)
        if mailbox is None or ("/calendar" not in endpoint and "/events" not in endpoint):
            time.sleep(delay_ms / 1000)
            return handler(request, caller, match)
        with self.throttle.mailbox_slot(caller.app.client_id, mailbox.email):
            time.sleep(delay_ms / 1000)
            return handler(request, caller, match)

    # -- users -------------------------------------------------------------------------------
    def _user_json(self, m: Mailbox) -> dict[str, Any]:
        return {"id": m.id, "displayName": m.display_name, "userPrincipalName": m.email,
                "mail": m.email, "jobTitle": m.job_title, "businessPhones": [],
                "givenName": None, "surname": None, "mobilePhone": None,
                "officeLocation": m.places.get("building") if m.is_room else None,
                "preferredLanguage": None}

    def list_users(self, request: Request, caller: Caller, match: re.Match) -> Response:
        _directory_role(caller, "Directory.Read.All", "User.Read.All", "User.ReadBasic.All")
        users = [self._user_json(m) for m in self.tenant.mailboxes]
        return self._list(request, users, "users", self.options.users_page_size, select_id=False)

    def get_user(self, request: Request, caller: Caller, match: re.Match) -> Response:
        _directory_role(caller, "Directory.Read.All", "User.Read.All", "User.ReadBasic.All")
        key = unquote(match["user"])
        mailbox = self.tenant.mailbox(key)
        if mailbox is None:
            raise GraphError(404, "Request_ResourceNotFound",
                             f"Resource '{key}' does not exist or one of its queried "
                             "reference-property objects are not present.")
        body = apply_list_query([self._user_json(mailbox)], request.query, page_size=1,
                                select_id=False)[0][0]
        return Response.json(200, {"@odata.context": f"{GRAPH_CONTEXT}#users/$entity", **body})

    # -- places ------------------------------------------------------------------------------
    def _rooms(self, room_list: str | None = None) -> list[dict[str, Any]]:
        return [{"@odata.type": "#microsoft.graph.room", **m.places}
                for m in self.tenant.rooms()
                if m.in_places and (room_list is None or m.room_list == room_list)]

    def list_rooms(self, request: Request, caller: Caller, match: re.Match) -> Response:
        _exchange_role(caller, "Place.Read.All", "Place.ReadWrite.All")
        return self._list(request, self._rooms(), "places/microsoft.graph.room",
                          self.options.places_page_size)

    def list_room_lists(self, request: Request, caller: Caller, match: re.Match) -> Response:
        _exchange_role(caller, "Place.Read.All", "Place.ReadWrite.All")
        lists = [{"@odata.type": "#microsoft.graph.roomList", **rl}
                 for rl in self.tenant.room_lists]
        return self._list(request, lists, "places/microsoft.graph.roomList",
                          self.options.places_page_size)

    def list_rooms_in_list(self, request: Request, caller: Caller, match: re.Match) -> Response:
        _exchange_role(caller, "Place.Read.All", "Place.ReadWrite.All")
        key = unquote(match["list"]).lower()
        room_list = next((rl for rl in self.tenant.room_lists
                          if key in (rl["id"].lower(), rl["emailAddress"].lower())), None)
        if room_list is None:
            raise GraphError(404, "ErrorItemNotFound",
                             "The specified object was not found in the store.")
        return self._list(request, self._rooms(room_list["emailAddress"]),
                          f"places('{room_list['emailAddress']}')/microsoft.graph.roomlist/rooms",
                          self.options.places_page_size)

    def get_place(self, request: Request, caller: Caller, match: re.Match) -> Response:
        """Get place: a room or a room list, by its id or its e-mail address."""
        _exchange_role(caller, "Place.Read.All", "Place.ReadWrite.All")
        key = unquote(match["place"]).lower()
        place = next((room for room in self._rooms()
                      if key in (str(room.get("id", "")).lower(),
                                 str(room.get("emailAddress", "")).lower())), None)
        if place is None:
            place = next(({"@odata.type": "#microsoft.graph.roomList", **rl}
                          for rl in self.tenant.room_lists
                          if key in (rl["id"].lower(), rl["emailAddress"].lower())), None)
        if place is None:
            raise GraphError(404, "ErrorItemNotFound",
                             "The specified object was not found in the store.")
        body = apply_list_query([place], request.query, page_size=1)[0][0]
        return Response.json(200, {"@odata.context": f"{GRAPH_CONTEXT}#places/$entity", **body})

    # -- mailbox settings --------------------------------------------------------------------
    def _mailbox_settings(self, caller: Caller, key: str) -> dict[str, Any]:
        mailbox = self.tenant.mailbox(unquote(key))
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{unquote(key)}' is "
                                                      "invalid.")
        if not caller.roles.intersection(("MailboxSettings.Read", "MailboxSettings.ReadWrite")):
            if caller.app.room_mailboxes_only and not mailbox.is_room:
                # Outside the app's management scope, as for its calendars.
                raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")
            if not caller.app.room_mailboxes_only:
                raise GraphError(403, "ErrorAccessDenied", ACCESS_DENIED)
        if mailbox.on_premises:
            raise GraphError(404, "MailboxNotEnabledForRESTAPI",
                             "REST API is not yet supported for this mailbox.")
        return {
            "archiveFolder": None, "timeZone": "UTC", "dateFormat": "yyyy-MM-dd",
            "timeFormat": "HH:mm", "delegateMeetingMessageDeliveryOptions":
                "sendToDelegateOnly",
            "userPurpose": "room" if mailbox.is_room else "user",
            "language": {"locale": "en-US", "displayName": "English (United States)"},
        }

    def get_mailbox_settings(self, request: Request, caller: Caller, match: re.Match) -> Response:
        settings = self._mailbox_settings(caller, match["user"])
        select = request.query.get("$select")
        if select:
            wanted = {name.strip().lower() for name in select.split(",")}
            settings = {k: v for k, v in settings.items() if k.lower() in wanted}
        context = f"{GRAPH_CONTEXT}#users('{unquote(match['user'])}')/mailboxSettings"
        return Response.json(200, {"@odata.context": context, **settings})

    def get_mailbox_setting(self, request: Request, caller: Caller, match: re.Match) -> Response:
        settings = self._mailbox_settings(caller, match["user"])
        name = next((k for k in settings if k.lower() == match["setting"].lower()), None)
        if name is None:
            raise GraphError(400, "BadRequest",
                             f"Resource not found for the segment '{match['setting']}'.")
        context = f"{GRAPH_CONTEXT}#users('{unquote(match['user'])}')/mailboxSettings/{name}"
        return Response.json(200, {"@odata.context": context, "value": settings[name]})

    def _list(self, request: Request, items: list[dict[str, Any]], context: str,
              page_size: int, *, select_id: bool = True) -> Response:
        page, next_skip, total = apply_list_query(items, request.query, page_size=page_size,
                                                  select_id=select_id)
        body: dict[str, Any] = {"@odata.context": f"{GRAPH_CONTEXT}#{context}"}
        if request.query.get("$count", "").lower() == "true":
            body["@odata.count"] = total
        if next_skip is not None:
            body["@odata.nextLink"] = self._link(request, {"$skip": str(next_skip)})
        body["value"] = page
        return Response.json(200, body)

    def _link(self, request: Request, changes: dict[str, str], path: str | None = None) -> str:
        query = {k: v for k, v in request.query.items() if k not in ("$skip", "$skiptoken")}
        query.update(changes)
        return f"{self.graph_url}{path or request.path}?{urlencode(query, safe='$:')}"

    # -- calendars ---------------------------------------------------------------------------
    def calendar_mailbox(self, caller: Caller, key: str, *, write: bool = False) -> Mailbox:
        mailbox = self.tenant.mailbox(unquote(key))
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{unquote(key)}' is "
                                                      "invalid.")
        roles = ("Calendars.ReadWrite",) if write else ("Calendars.Read", "Calendars.ReadWrite")
        if not caller.roles.intersection(roles):
            if caller.app.room_mailboxes_only and mailbox.is_room:
                pass  # Exchange RBAC for Applications grants rooms without a tenant-wide role.
            elif caller.app.room_mailboxes_only:
                # Outside the app's management scope (assumed wording, see graph-contract §1).
                raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")
            else:
                raise GraphError(403, "ErrorAccessDenied", ACCESS_DENIED)
        if mailbox.on_premises:
            # Hybrid mailboxes not reachable through Graph ("REST API is not yet supported for
            # this mailbox" troubleshooting article; 404 as reported in O365/python-o365#438).
            raise GraphError(404, "MailboxNotEnabledForRESTAPI",
                             "REST API is not yet supported for this mailbox.")
        return mailbox

    def _render(self, request: Request, event: dict[str, Any]) -> dict[str, Any]:
        timezone = _parse_prefer(request).get("outlook.timezone", "UTC")
        select = request.query.get("$select")
        return render_event(event, timezone=timezone,
                            select=select.split(",") if select else None)

    def _tz_headers(self, request: Request) -> dict[str, str]:
        timezone = _parse_prefer(request).get("outlook.timezone")
        return {"Preference-Applied": f'outlook.timezone="{timezone}"'} if timezone else {}

    def _page_size(self, request: Request, default: int) -> int:
        prefer = _parse_prefer(request).get("odata.maxpagesize")
        top = request.query.get("$top")
        try:
            return min(max(1, int(top or prefer or default)), self.options.max_page_size)
        except ValueError:
            raise GraphError(400, "BadRequest", f"Invalid $top value '{top}'.") from None

    def calendar_view(self, request: Request, caller: Caller, match: re.Match) -> Response:
        mailbox = self.calendar_mailbox(caller, match["user"])
        _, _, start, end = _window(request)
        instances = self.store.calendar_view(mailbox.id, start, end)
        size = self._page_size(request, self.options.calendar_page_size)
        skip = int(request.query.get("$skip", "0") or 0)
        body: dict[str, Any] = {
            "@odata.context": f"{GRAPH_CONTEXT}#users('{mailbox.id}')/calendarView",
            "value": [self._render(request, e) for e in instances[skip:skip + size]],
        }
        if skip + size < len(instances):
            body["@odata.nextLink"] = self._link(request, {"$top": str(size),
                                                           "$skip": str(skip + size)})
        return Response.json(200, body, self._tz_headers(request))

    def list_events(self, request: Request, caller: Caller, match: re.Match) -> Response:
        mailbox = self.calendar_mailbox(caller, match["user"])
        events = self.store.mailbox_events(mailbox.id)
        size = self._page_size(request, self.options.calendar_page_size)
        skip = int(request.query.get("$skip", "0") or 0)
        body: dict[str, Any] = {
            "@odata.context": f"{GRAPH_CONTEXT}#users('{mailbox.id}')/events",
            "value": [self._render(request, e) for e in events[skip:skip + size]],
        }
        if skip + size < len(events):
            body["@odata.nextLink"] = self._link(request, {"$top": str(size),
                                                           "$skip": str(skip + size)})
        return Response.json(200, body, self._tz_headers(request))

    def create_event(self, request: Request, caller: Caller, match: re.Match) -> Response:
        mailbox = self.calendar_mailbox(caller, match["user"], write=True)
        payload = request.json()
        if not isinstance(payload, dict):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        event = self.store.create_event(mailbox.id, payload)
        return Response.json(201, self._render(request, event), self._tz_headers(request))

    def get_event(self, request: Request, caller: Caller, match: re.Match) -> Response:
        mailbox = self.calendar_mailbox(caller, match["user"])
        event = self.store.get_event(mailbox.id, unquote(match["event"]))
        return Response.json(200, self._render(request, event), self._tz_headers(request))

    def update_event(self, request: Request, caller: Caller, match: re.Match) -> Response:
        mailbox = self.calendar_mailbox(caller, match["user"], write=True)
        patch = request.json()
        if not isinstance(patch, dict):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        event = self.store.update_event(mailbox.id, unquote(match["event"]), patch)
        return Response.json(200, self._render(request, event), self._tz_headers(request))

    def delete_event(self, request: Request, caller: Caller, match: re.Match) -> Response:
        mailbox = self.calendar_mailbox(caller, match["user"], write=True)
        self.store.delete_event(mailbox.id, unquote(match["event"]))
        return Response(204)

    def cancel_event(self, request: Request, caller: Caller, match: re.Match) -> Response:
        mailbox = self.calendar_mailbox(caller, match["user"], write=True)
        body = request.json() or {}
        self.store.cancel_event(mailbox.id, unquote(match["event"]), body.get("comment", ""))
        return Response(202)

    # -- delta -------------------------------------------------------------------------------
    def calendar_view_delta(self, request: Request, caller: Caller, match: re.Match) -> Response:
        mailbox = self.calendar_mailbox(caller, match["user"])
        size = _parse_prefer(request).get("odata.maxpagesize")
        page_size = min(int(size) if size and size.isdigit() and int(size) > 0
                        else self.options.delta_page_size, self.options.max_page_size)
        skiptoken, deltatoken = request.query.get("$skiptoken"), request.query.get("$deltatoken")
        path = f"/users/{match['user']}/calendarView/delta"

        timezone = _parse_prefer(request).get("outlook.timezone", "UTC")

        def encode(page: list[dict[str, Any]]) -> str:
            return json.dumps([self._delta_item(item, timezone) for item in page],
                              check_circular=False)  # rendered afresh: no cycles

        try:
            if skiptoken:
                state, items, cursor = self.delta.take_pages(skiptoken, mailbox.id)
                value, rest = encode(items[:page_size]), items[page_size:]
            else:
                if deltatoken:
                    state = self.delta.read_delta_token(deltatoken, mailbox.id)
                else:
                    raw_start, raw_end, _, _ = _window(request)
                    state = DeltaState(mailbox.id, raw_start, raw_end, None)
                value, rest, cursor = self.store.delta_page(
                    mailbox.id, _parse_window_value(state.start),
                    _parse_window_value(state.end), state.since, size=page_size, encode=encode)
        except GraphError as error:
            if error.status == 410:
                error.headers["Location"] = self._restart_link(path, request)
            raise
        body: dict[str, Any] = {
            "@odata.context": f"{GRAPH_CONTEXT}#Collection(event)",
            "value": ENCODED_VALUE,
        }
        if rest:
            token = self.delta.save_pages(state, rest, cursor)
            body["@odata.nextLink"] = f"{self.graph_url}{path}?$skiptoken={token}"
        else:
            token = self.delta.delta_token(mailbox.id, state.start, state.end, cursor)
            body["@odata.deltaLink"] = f"{self.graph_url}{path}?$deltatoken={token}"
        # json.dumps(body) with the page's items already encoded: the same bytes.
        text = json.dumps(body).replace(json.dumps(ENCODED_VALUE), value, 1)
        return Response(200, text.encode(), {"Content-Type": "application/json; charset=utf-8",
                                             **self._tz_headers(request)})

    def _delta_item(self, item: dict[str, Any], timezone: str) -> dict[str, Any]:
        if "@removed" in item:
            return {"@odata.type": "#microsoft.graph.event", **item}
        return render_event(item, timezone=timezone)

    def _restart_link(self, path: str, request: Request) -> str:
        """Where a client restarts after 410: a fresh delta over the token's window if known."""
        token = request.query.get("$deltatoken", "")
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            query = {"startDateTime": raw["s"], "endDateTime": raw["e"]}
        except (ValueError, KeyError, TypeError):
            return f"{self.graph_url}{path}"
        return f"{self.graph_url}{path}?{urlencode(query)}"



def fault_error(fault: Fault) -> GraphError:
    """The answer an injected 429/503/down fault gives (bodies per graph-contract §6)."""
    headers = {"Retry-After": str(fault.retry_after)}
    if fault.kind == "429":
        return GraphError(429, "TooManyRequests", "Please retry again later.", headers=headers)
    return GraphError(503, "ServiceUnavailable", "Service Unavailable", headers=headers)
