"""A day-view row as HTML: the space, an empty timeline for the page's script, and conflicts.

Written here rather than in a template because a page of 200 rows drew ten thousand template
nodes: 175 ms a page, where these strings take one or two (bench/day_view.py). Every value is
escaped. The parts only a single row shows (the inline booking form, "booked") are a template,
bookings/_row_extras.html, passed in as `extra`.
"""

from __future__ import annotations

from html import escape

from django.utils.safestring import SafeString, mark_safe

from openrooms.bookings.models import Booking
from openrooms.bookings.timeline import Row
from openrooms.spaces.models import Space


def row_html(row: Row, *, book_url: str, extra: str = "", with_form: bool = False) -> SafeString:
    """The row's <li>, ending with `extra`; one `with_form` (in `extra`) has no Book button.
    static/js/day.js draws its timeline and bookings from `data-busy`."""
    space = row.space
    name = escape(space.name)
    meta = []
    if space.kind == Space.Kind.ROOM:
        meta.append(f"{space.capacity} {'person' if space.capacity == 1 else 'people'}")
    if space.amenities:
        meta.append(escape(", ".join(map(str, space.amenities))))
    button = ""
    if not with_form:
        url = escape(book_url)
        button = (
            f'<a class="button small book-button" href="{url}" hx-get="{url}" '
            f'hx-target="#space-{space.pk}" hx-swap="outerHTML">'
            f'Book<span class="visually-hidden"> {name}</span></a>'
        )
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<li class="space-row{" is-booking" if with_form else ""}" id="space-{space.pk}" '
        f"data-busy='{single_quoted(row.busy_json)}'>"
        f'<div class="space-info"><div><span class="space-name">{name}</span>'
        f'<span class="space-meta">{" · ".join(meta)}</span></div>{button}</div>'
        f'<div class="timeline" aria-hidden="true"></div>{conflicts_html(row)}{extra}</li>'
    )


def single_quoted(text: str) -> str:
    """`text` for an attribute in single quotes: JSON's many double quotes stay as they are,
    a third less to send than with each written &quot;."""
    return text.replace("&", "&amp;").replace("'", "&#x27;").replace("<", "&lt;")


def conflicts_html(row: Row) -> str:
    """Meetings booked in Outlook over a booking here, for those who may see them."""
    if not row.conflicts:
        return ""

    def item(conflict: Booking) -> str:
        zone = conflict.space.office.zone
        when = f"{conflict.start.astimezone(zone):%H:%M}–{conflict.end.astimezone(zone):%H:%M}"
        who = conflict.organizer_name or conflict.organizer_email or "Outlook meeting"
        title = f" · {escape(conflict.title)}" if conflict.title else ""
        return (
            '<li class="busy-item conflict"><span class="badge conflict">Conflict</span>'
            f"<span>{when} · {escape(who)}{title}</span>"
            f'<span class="muted small">{escape(conflict.status_reason)}</span></li>'
        )

    return f'<ul class="busy-list conflicts">{"".join(map(item, row.conflicts))}</ul>'
