from __future__ import annotations

from django.db import models

from openrooms.accounts.models import Organisation
from openrooms.spaces.models import Space


class Connection(models.Model):
    """An organisation's Microsoft 365 tenant: the Azure app's credentials and their health."""

    class WriteMode(models.TextChoices):
        BOOKER_CALENDAR = "booker", "In the booker's calendar, with the room invited"
        ROOM_CALENDAR = "room", "Directly in the room's calendar"

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="microsoft365"
    )
    tenant_id = models.CharField(max_length=255)
    client_id = models.CharField(max_length=36)
    # Fernet-encrypted (openrooms.crypto); the plain secret is never rendered again.
    client_secret_encrypted = models.TextField()
    secret_set_at = models.DateTimeField()
    secret_expires_on = models.DateField(null=True, blank=True)
    write_mode = models.CharField(
        max_length=10, choices=WriteMode.choices, default=WriteMode.BOOKER_CALENDAR
    )
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_steps = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Microsoft 365 tenant {self.tenant_id} of {self.organisation}"


class RoomLink(models.Model):
    """A room space imported from Microsoft 365, keyed on its mailbox: Places ids can change."""

    space = models.OneToOneField(Space, on_delete=models.CASCADE, related_name="room_link")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="room_links"
    )
    mailbox = models.EmailField()
    graph_room_id = models.CharField(max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    building = models.CharField(max_length=255, blank=True)
    floor_label = models.CharField(max_length=255, blank=True)
    room_list = models.CharField(max_length=255, blank=True)
    last_seen_in_places_at = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["mailbox"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "mailbox"], name="room_mailbox_linked_once"
            )
        ]

    def __str__(self) -> str:
        return self.mailbox
