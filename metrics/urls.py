from django.urls import path

from metrics import api, staffing_api, visitor_api

urlpatterns = [
    path("summary/", api.SummaryView.as_view(), name="metrics-summary"),
    path("agents/", api.AgentsView.as_view(), name="metrics-agents"),
    path("departments/", api.DepartmentsView.as_view(), name="metrics-departments"),
    path("tags/", api.TagsView.as_view(), name="metrics-tags"),
    path("timeseries/", api.TimeseriesView.as_view(), name="metrics-timeseries"),
    path("staffing/", staffing_api.StaffingView.as_view(), name="metrics-staffing"),
    path("conversion/", visitor_api.ConversionView.as_view(), name="metrics-conversion"),
    path("engagement/", visitor_api.EngagementView.as_view(), name="metrics-engagement"),
]
