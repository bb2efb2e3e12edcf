"""The operations app: `openrooms serve`, /healthz and /readyz, `openrooms backup` and restore."""

from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "openrooms.operations"
    label = "operations"
    verbose_name = "Operations"
