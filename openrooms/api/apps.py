"""The api app: the /api/v1 router, its bearer-token auth and its OpenAPI document."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "openrooms.api"
