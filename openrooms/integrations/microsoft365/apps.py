from django.apps import AppConfig


class Microsoft365Config(AppConfig):
    name = "openrooms.integrations.microsoft365"
    label = "microsoft365"
    verbose_name = "Microsoft 365"
