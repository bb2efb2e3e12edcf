"""The booking form: a date, a start and an end typed in the office's time zone, and a title."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms

from openrooms.forms import TextChecks


class BookingForm(TextChecks, forms.Form):
    """A slot typed in the office's time zone; `start_at` and `end_at` are the aware instants."""

    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    start = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time", "step": 300}, format="%H:%M")
    )
    end = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time", "step": 300}, format="%H:%M")
    )
    title = forms.CharField(max_length=255, required=False)

    def __init__(
        self, *args: Any, timezone_name: str, with_title: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zoneinfo.ZoneInfo(timezone_name)
        if not with_title:
            del self.fields["title"]

    @property
    def start_at(self) -> dt.datetime:
        return dt.datetime.combine(
            self.cleaned_data["date"], self.cleaned_data["start"], tzinfo=self.zone
        )

    @property
    def end_at(self) -> dt.datetime:
        return dt.datetime.combine(
            self.cleaned_data["date"], self.cleaned_data["end"], tzinfo=self.zone
        )
