"""The office plans' URLs: the editor under /settings/, the plan view at /plan/.

`urlpatterns` sit under /settings/ (the editor, administrators only); `member_urlpatterns`
belong at /plan/ (the plan view, everyone in the organisation)."""

from django.urls import path

from openrooms.spaces import plan_views

editor = "offices/<int:office_id>/plan/"

urlpatterns: list = [
    path(editor, plan_views.plan_editor_office, name="plan_editor_office"),
    path(f"{editor}<int:floor_id>/", plan_views.plan_editor, name="plan_editor"),
    path(f"{editor}<int:floor_id>/image/", plan_views.plan_image_upload, name="plan_image_upload"),
    path(f"{editor}<int:floor_id>/spaces/", plan_views.plan_space_add, name="plan_space_add"),
    path(
        f"{editor}<int:floor_id>/spaces/<int:space_id>/position/",
        plan_views.plan_space_position,
        name="plan_space_position",
    ),
    path(
        f"{editor}<int:floor_id>/spaces/<int:space_id>/remove/",
        plan_views.plan_space_remove,
        name="plan_space_remove",
    ),
    path(
        f"{editor}<int:floor_id>/spaces/<int:space_id>/rename/",
        plan_views.plan_space_rename,
        name="plan_space_rename",
    ),
]

member_urlpatterns: list = [
    path("", plan_views.plan_view, name="plan_view"),
    path("<int:floor_id>/image/", plan_views.plan_image, name="plan_image"),
    path("<int:floor_id>/status/", plan_views.plan_status, name="plan_status"),
    path("<int:floor_id>/book/", plan_views.plan_book, name="plan_book"),
]
