from django.urls import path

from metrics import api

urlpatterns = [
    path("summary/", api.SummaryView.as_view(), name="metrics-summary"),
    path("agents/", api.AgentsView.as_view(), name="metrics-agents"),
    path("departments/", api.DepartmentsView.as_view(), name="metrics-departments"),
    path("tags/", api.TagsView.as_view(), name="metrics-tags"),
    path("timeseries/", api.TimeseriesView.as_view(), name="metrics-timeseries"),
]
