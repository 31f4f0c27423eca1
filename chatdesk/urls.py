from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from surveys.views import survey_page, transcript_confirmation

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/metrics/", include("metrics.urls")),
    path("api/", include("chatdesk.api_urls")),
    path("reports/", include("metrics.page_urls")),
    path("survey/<str:token>/", survey_page, name="survey"),
    path("transcript/<str:token>/", transcript_confirmation, name="transcript-confirmation"),
    path("", include("console.urls")),
    path("", include("widget.urls")),
]
