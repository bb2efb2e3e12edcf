"""Included at /hooks/microsoft365/, outside /settings/: where Microsoft Graph posts.

Graph posts its change and lifecycle notifications here, signed in as nobody (receiver.py)."""

from django.urls import path

from openrooms.integrations.microsoft365 import receiver

urlpatterns = [
    path("notifications/", receiver.notifications, name="microsoft365_notifications"),
    path("lifecycle/", receiver.lifecycle, name="microsoft365_lifecycle"),
]
