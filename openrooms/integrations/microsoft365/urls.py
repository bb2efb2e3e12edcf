"""Included under /settings/: the Office 365 page (Test settings, sync health), Manage Rooms.

Next to the settings area's own URLs: the Office 365 page lives at integrations/microsoft365/,
Manage Rooms at meeting-rooms/manage/."""

from django.urls import path

from openrooms.integrations.microsoft365 import views

urlpatterns = [
    path("integrations/microsoft365/", views.connection_settings, name="microsoft365"),
    path("integrations/microsoft365/test/", views.test_settings, name="microsoft365_test"),
    path(
        "integrations/microsoft365/test/<int:index>/",
        views.test_step,
        name="microsoft365_test_step",
    ),
    path(
        "integrations/microsoft365/disconnect/",
        views.disconnect,
        name="microsoft365_disconnect",
    ),
    path("integrations/microsoft365/help/", views.help_page, name="microsoft365_help"),
    path("integrations/microsoft365/sync/", views.sync_health, name="microsoft365_sync"),
    path(
        "integrations/microsoft365/sync/rooms/",
        views.sync_health_rooms,
        name="microsoft365_sync_rooms",
    ),
    path(
        "integrations/microsoft365/sync/rooms/<int:link_id>/resync/",
        views.resync_room,
        name="microsoft365_resync_room",
    ),
    path(
        "integrations/microsoft365/sync/outbox/<int:entry_id>/retry/",
        views.retry_outbox_entry,
        name="microsoft365_retry_entry",
    ),
    path(
        "integrations/microsoft365/sync/outbox/<int:entry_id>/give-up/",
        views.give_up_outbox_entry,
        name="microsoft365_give_up_entry",
    ),
    path("meeting-rooms/manage/", views.manage_rooms, name="microsoft365_rooms"),
    path("meeting-rooms/manage/rooms/", views.room_listing, name="microsoft365_room_listing"),
    path("meeting-rooms/manage/import/", views.import_rooms, name="microsoft365_import_rooms"),
    path("meeting-rooms/manage/add/", views.add_room, name="microsoft365_add_room"),
    path(
        "meeting-rooms/manage/<int:link_id>/reimport/",
        views.reimport_room,
        name="microsoft365_reimport_room",
    ),
    path(
        "meeting-rooms/manage/<int:link_id>/unlink/",
        views.unlink_room,
        name="microsoft365_unlink_room",
    ),
]
