"""The settings area's forms: an office (with its time zone), a floor, a desk or a room."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any, cast

from django import forms
from django.core.validators import MinValueValidator

from openrooms.forms import TextChecks
from openrooms.spaces.models import Floor, Office, Space


@cache
def timezone_choices() -> list[tuple[str, str]]:
    names = sorted(
        name for name in zoneinfo.available_timezones() if "/" in name or name == "UTC"
    )
    return [(name, name.replace("_", " ")) for name in names]


class OfficeForm(TextChecks, forms.ModelForm):
    timezone = forms.ChoiceField(
        label="Time zone",
        choices=timezone_choices,
        help_text="Bookings of this office are shown in this time zone.",
    )

    class Meta:
        model = Office
        fields = ["name", "address", "timezone"]
        widgets = {"address": forms.Textarea(attrs={"rows": 3})}


class FloorForm(TextChecks, forms.ModelForm):
    class Meta:
        model = Floor
        fields = ["name", "order"]


class AmenitiesField(forms.CharField):
    """Amenities typed as comma-separated words, stored as a list."""

    def prepare_value(self, value: object) -> object:
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: object) -> list[str]:  # type: ignore[override]  # cleans to a list, not a str
        text = super().to_python(value) or ""
        seen: dict[str, None] = {}
        for item in text.split(","):
            if item.strip():
                seen.setdefault(item.strip(), None)
        return list(seen)


class SpaceForm(TextChecks, forms.ModelForm):
    amenities = AmenitiesField(
        required=False, help_text="Separated by commas, e.g. screen, video, whiteboard."
    )

    class Meta:
        model = Space
        fields = ["name", "capacity", "amenities", "floor", "bookable"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the floors of this space's office can be chosen.
        floor_field = cast("forms.ModelChoiceField[Floor]", self.fields["floor"])
        floor_field.queryset = Floor.objects.filter(office=self.instance.office)
        floor_field.empty_label = "No floor"
        self.fields["capacity"].validators.append(MinValueValidator(1))
        self.fields["capacity"].widget.attrs["min"] = 1
        if self.instance.kind == Space.Kind.DESK:
            self.fields["capacity"].help_text = "People who can sit here; usually 1."
