"""`Office`, `Floor` (with its plan image) and `Space` (a desk or a room)."""

from __future__ import annotations

import zoneinfo
from functools import cached_property

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from openrooms.accounts.models import Organisation, validate_timezone


def plan_image_path(floor: Floor, filename: str) -> str:
    """Where a floor's plan image is stored; `filename` is built by spaces.plans, never the
    uploader's, so its extension always matches the decoded format."""
    return f"plans/{floor.office.organisation_id}/{filename}"


class Office(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="offices")
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name"], name="office_name_unique_in_organisation"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @cached_property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The office's time zone: bookings are shown, and typed, in it."""
        return zoneinfo.ZoneInfo(self.timezone)


class Floor(models.Model):
    """A floor of an office and its plan image (the office plan)."""

    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="floors")
    name = models.CharField(max_length=100)
    order = models.IntegerField(
        default=0, help_text="Floors are listed in this order.",
        validators=[MinValueValidator(-1000), MaxValueValidator(1000)],
    )
    # Validated by spaces.plans (PNG, JPEG or WebP, size and pixel caps) before it is stored.
    plan_image = models.FileField(upload_to=plan_image_path, blank=True, max_length=255)
    plan_width = models.PositiveIntegerField(null=True, blank=True)
    plan_height = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["office", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["office", "name"], name="floor_name_unique_in_office")
        ]

    def __str__(self) -> str:
        return f"{self.office.name} – {self.name}"


fraction = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class Space(models.Model):
    """A desk or a room: one table for both keeps plans, availability and bookings uniform."""

    class Kind(models.TextChoices):
        DESK = "desk", "Desk"
        ROOM = "room", "Room"

    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="spaces")
    floor = models.ForeignKey(
        Floor, on_delete=models.SET_NULL, null=True, blank=True, related_name="spaces"
    )
    kind = models.CharField(max_length=4, choices=Kind.choices)
    name = models.CharField(max_length=200)
    capacity = models.PositiveIntegerField(default=1)
    amenities = models.JSONField(default=list, blank=True)
    bookable = models.BooleanField(default=True)
    # Position on the floor's plan image as fractions of its width and height, so a new image
    # of another pixel size keeps every icon where it was.
    plan_x = models.FloatField(null=True, blank=True, validators=fraction)
    plan_y = models.FloatField(null=True, blank=True, validators=fraction)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["office", "kind", "name"]
        # Pages list an office's spaces rooms first, then by name, a page at a time.
        indexes = [models.Index(fields=["office", "-kind", "name"], name="space_rooms_first")]
        constraints = [
            models.UniqueConstraint(
                fields=["office", "kind", "name"], name="space_name_unique_in_office"
            ),
            models.CheckConstraint(
                condition=models.Q(plan_x__isnull=True, plan_y__isnull=True)
                | models.Q(plan_x__gte=0, plan_x__lte=1, plan_y__gte=0, plan_y__lte=1),
                name="space_plan_position_is_a_fraction",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.floor is not None and self.floor.office_id != self.office_id:
            raise ValidationError({"floor": "That floor belongs to another office."})

    @property
    def is_on_plan(self) -> bool:
        return self.floor_id is not None and self.plan_x is not None
