"""The accounts app: organisations, accounts, API tokens and the commands that create them."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "openrooms.accounts"
