from django.conf import settings
from django.conf.urls.static import static
from django.urls import include, path

from openrooms.api.router import api
from openrooms.spaces.plan_urls import member_urlpatterns

urlpatterns = [
    path("api/v1/", api.urls),
    path("accounts/", include("openrooms.accounts.urls")),
    path("settings/", include("openrooms.spaces.urls")),
    path("settings/", include("openrooms.integrations.microsoft365.urls")),
    path("plan/", include(member_urlpatterns)),
    path("", include("openrooms.bookings.urls")),
]
if settings.DEBUG or settings.INSECURE_HTTP:
    # Plan images in the embedded demo; production serves MEDIA_ROOT from its web server.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
