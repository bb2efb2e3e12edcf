"""The spaces app: offices, floors and their plans, desks and rooms, and the settings area."""

from django.apps import AppConfig


class SpacesConfig(AppConfig):
    name = "openrooms.spaces"
