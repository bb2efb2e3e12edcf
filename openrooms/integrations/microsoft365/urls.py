"""Included under /settings/ (next to the settings area's own URLs): the Office 365 page lives
at integrations/microsoft365/, Manage Rooms at meeting-rooms/manage/."""

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
