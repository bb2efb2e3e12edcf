"""The demo app: the demo organisation's seed, its floor-plan drawing and `openrooms demo`."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "openrooms.demo"
