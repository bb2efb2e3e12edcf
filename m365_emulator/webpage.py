"""/_emulator/: one day of every room mailbox's calendar, and forms to book, move or cancel.

The forms book, move or cancel a meeting the way a user does in Outlook (so the room's booking
assistant answers). Plain HTML."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .calendar.render import render_event
from .errors import GraphError
from .messages import Request, Response

if TYPE_CHECKING:
    from .server import Emulator

_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem;
vertical-align:top;text-align:left}.cancelled{text-decoration:line-through;color:#888}
form{display:inline-block;margin:.5rem 1rem .5rem 0;padding:.5rem;border:1px solid #ddd}
.error{color:#b00}small{color:#666}"""


class WebPage:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path.rstrip("/") == "/_emulator/action":
            return self._action(request)
        if request.method == "GET" and request.path.rstrip("/") == "/_emulator":
            return Response.text(200, self._page(request.query), "text/html")
        return Response.text(404, "Not found.")

    def _zone(self, name: str) -> ZoneInfo:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def _page(self, query: dict[str, str], error: str = "") -> str:
        tenant, store = self.emulator.tenant, self.emulator.store
        day = date.fromisoformat(query["day"]) if query.get("day") else date.today()
        zone_name = query.get("tz", "UTC")
        zone = self._zone(zone_name)
        start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
        rows = []
        for room in tenant.rooms():
            if room.on_premises:
                rows.append(f"<tr><th>{escape(room.display_name)}</th>"
                            "<td><small>hosted on-premises: not reachable through Graph"
                            "</small></td></tr>")
                continue
            cells = []
            for event in store.calendar_view(room.id, start, start + timedelta(days=1)):
                shown = render_event(event, timezone=zone_name)
                css = ' class="cancelled"' if shown["isCancelled"] else ""
                organizer = (shown.get("organizer") or {}).get("emailAddress", {})
                cells.append(
                    f"<div{css}>{shown['start']['dateTime'][11:16]}–"
                    f"{shown['end']['dateTime'][11:16]} {escape(shown['subject'] or '')} "
                    f"<small>{escape(organizer.get('address', ''))} · {shown['showAs']} · "
                    f"id {escape(self._organizer_event_id(shown))}</small></div>")
            rows.append(f"<tr><th>{escape(room.display_name)}<br><small>"
                        f"{escape(room.email)}</small></th><td>{''.join(cells) or '—'}</td></tr>")
        users = "".join(f"<option>{escape(m.email)}</option>"
                        for m in tenant.mailboxes if not m.is_room and not m.on_premises)
        rooms = "".join(f"<option value='{escape(m.email)}'>{escape(m.display_name)}</option>"
                        for m in tenant.rooms() if not m.on_premises)
        days = (("◀", day - timedelta(days=1)), ("today", date.today()),
                ("▶", day + timedelta(days=1)))
        nav = "".join(f" <a href='?{urlencode({'day': d.isoformat(), 'tz': zone_name})}'>"
                      f"{label}</a>" for label, d in days)
        hidden = (f"<input type=hidden name=day value='{day.isoformat()}'>"
                  f"<input type=hidden name=tz value='{escape(zone_name)}'>")
        return f"""<!doctype html><html><head><meta charset="utf-8">
<title>m365-emulator · {escape(tenant.display_name)}</title><style>{_STYLE}</style></head><body>
<h1>{escape(tenant.display_name)} room calendars</h1>
<form method=get>Day <input type=date name=day value="{day.isoformat()}">
Time zone <input name=tz value="{escape(zone_name)}"> <button>Show</button></form>{nav}
<p class=error>{escape(error)}</p>
<table><tr><th>Room</th><th>{day.isoformat()} ({escape(zone_name)})</th></tr>{''.join(rows)}</table>
<h2>As a user in Outlook</h2>
<form method=post action="/_emulator/action"><b>Book</b><input type=hidden name=op value=book>
{hidden}<br>Organizer <select name=organizer>{users}</select><br>
Room <select name=room>{rooms}</select><br>Subject <input name=subject value="Meeting"><br>
Start <input type=time name=start value="10:00"> end <input type=time name=end value="11:00">
<br><button>Send invitation</button></form>
<form method=post action="/_emulator/action"><b>Move</b><input type=hidden name=op value=move>
{hidden}<br>Organizer <select name=organizer>{users}</select><br>Event id <input name=event_id>
<br>Start <input type=time name=start value="14:00"> end <input type=time name=end value="15:00">
<br><button>Send update</button></form>
<form method=post action="/_emulator/action"><b>Cancel</b><input type=hidden name=op value=cancel>
{hidden}<br>Organizer <select name=organizer>{users}</select><br>Event id <input name=event_id>
<br>Comment <input name=comment><br><button>Send cancellation</button></form>
<p><small>Rooms answer after the booking assistant's delay; reload to see it.</small></p>
</body></html>"""

    def _organizer_event_id(self, shown: dict[str, Any]) -> str:
        """The organizer's own copy, which is what Outlook moves or cancels."""
        address = ((shown.get("organizer") or {}).get("emailAddress") or {}).get("address", "")
        organizer = self.emulator.tenant.mailbox(address)
        if organizer is None or organizer.is_room or organizer.on_premises:
            return shown["id"]
        for item in self.emulator.store.mailbox_events(organizer.id):
            if item.get("iCalUId") == shown["iCalUId"]:
                return item["id"]
        return shown["id"]

    def _action(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        tenant, store = self.emulator.tenant, self.emulator.store
        day, zone_name = form.get("day", date.today().isoformat()), form.get("tz", "UTC")
        zone = self._zone(zone_name)
        try:
            organizer = tenant.mailbox(form.get("organizer", ""))
            if organizer is None:
                raise GraphError(400, "BadRequest", "Pick an organizer.")
            when = {k: {"dateTime": f"{day}T{form[k]}:00", "timeZone": zone.key}
                    for k in ("start", "end") if form.get(k)}
            if form.get("op") == "book":
                room = tenant.mailbox(form.get("room", ""))
                if room is None:
                    raise GraphError(400, "BadRequest", "Pick a room.")
                store.create_event(organizer.id, {
                    "subject": form.get("subject") or "Meeting", **when,
                    "location": {"displayName": room.display_name},
                    "attendees": [{"type": "resource", "emailAddress": {
                        "address": room.email, "name": room.display_name}}]})
            elif form.get("op") == "move":
                store.update_event(organizer.id, form.get("event_id", ""), when)
            elif form.get("op") == "cancel":
                store.cancel_event(organizer.id, form.get("event_id", ""),
                                   form.get("comment", ""))
        except (GraphError, KeyError, ValueError) as exc:
            message = exc.message if isinstance(exc, GraphError) else str(exc)
            return Response.text(400, self._page({"day": day, "tz": zone_name}, message),
                                 "text/html")
        location = f"/_emulator/?{urlencode({'day': day, 'tz': zone_name})}"
        return Response(303, b"", {"Location": location})
