"""`{{ moment|relative_to:now }}`: "3 hours ago", "in 5 minutes", for the sync health page."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.timesince import timesince, timeuntil

register = template.Library()


@register.filter
def relative_to(moment: dt.datetime, now: dt.datetime) -> str:
    """The larger unit only: an admin scanning the table needs "2 hours ago", not the minutes."""
    delta = moment - now
    if abs(delta) < dt.timedelta(minutes=1):
        return "in less than a minute" if delta > dt.timedelta(0) else "less than a minute ago"
    if delta > dt.timedelta(0):
        return f"in {timeuntil(moment, now, depth=1)}"
    return f"{timesince(moment, now, depth=1)} ago"
