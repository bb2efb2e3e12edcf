"""Included at /accounts/: sign-in, sign-out and the signed-in account's API tokens."""

from django.contrib.auth import views as auth_views
from django.urls import path

from openrooms.accounts import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tokens/", views.api_tokens, name="api_tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke_api_token, name="revoke_api_token"),
]
