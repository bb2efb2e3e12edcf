"""The admin settings area, under /settings/ (the office-plan editor has its own plan_urls)."""

from django.urls import include, path

from openrooms.accounts import views as account_views
from openrooms.spaces import views

urlpatterns: list = [
    path("", include("openrooms.spaces.plan_urls")),
    path("", views.settings_home, name="settings"),
    path("offices/", views.office_list, name="settings_offices"),
    path("offices/new/", views.office_create, name="settings_office_create"),
    path("offices/<int:office_id>/", views.office_detail, name="settings_office"),
    path("offices/<int:office_id>/delete/", views.office_delete, name="settings_office_delete"),
    path("offices/<int:office_id>/floors/", views.floor_list, name="settings_floors"),
    path(
        "offices/<int:office_id>/desks/",
        views.space_list,
        {"kinds": "desks"},
        name="settings_desks",
    ),
    path(
        "offices/<int:office_id>/rooms/",
        views.space_list,
        {"kinds": "rooms"},
        name="settings_rooms",
    ),
    path("floors/<int:floor_id>/", views.floor_edit, name="settings_floor"),
    path("floors/<int:floor_id>/delete/", views.floor_delete, name="settings_floor_delete"),
    path("spaces/<int:space_id>/", views.space_edit, name="settings_space"),
    path("spaces/<int:space_id>/delete/", views.space_delete, name="settings_space_delete"),
    path("meeting-rooms/", views.meeting_rooms, name="settings_meeting_rooms"),
    path("integrations/", views.integrations, name="settings_integrations"),
    # Members live in the accounts app; the settings area is one URL space for the admin.
    path("members/", account_views.members, name="settings_members"),
    path("members/invite/", account_views.invite_member, name="settings_member_invite"),
    path("members/<int:account_id>/role/", account_views.change_role, name="settings_member_role"),
    path(
        "members/<int:account_id>/active/",
        account_views.set_member_active,
        name="settings_member_active",
    ),
    path("booking-rules/", account_views.booking_rules, name="settings_booking_rules"),
]
