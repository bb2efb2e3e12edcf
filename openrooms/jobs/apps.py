"""The jobs app: background work's own rows (leases) and commands."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "openrooms.jobs"
    label = "jobs"
    verbose_name = "Background work"
