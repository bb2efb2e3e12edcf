from django.urls import include, path

urlpatterns: list = [
    path("", include("openrooms.spaces.plan_urls")),
]
