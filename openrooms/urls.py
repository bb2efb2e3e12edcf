"""The site's URLs: /api/v1/, /accounts/, /settings/, /hooks/microsoft365/, /plan/ and /."""

from django.urls import include, path

from openrooms.api.router import api
from openrooms.spaces.plan_urls import member_urlpatterns

urlpatterns = [
    path("api/v1/", api.urls),
    path("accounts/", include("openrooms.accounts.urls")),
    path("settings/", include("openrooms.spaces.urls")),
    path("settings/", include("openrooms.integrations.microsoft365.urls")),
    path("hooks/microsoft365/", include("openrooms.integrations.microsoft365.hook_urls")),
    path("plan/", include(member_urlpatterns)),
    path("", include("openrooms.bookings.urls")),
]
