from django.urls import path

from metrics import views

urlpatterns = [
    path("", views.reports_page, name="reports"),
    path("wallboard/", views.wallboard_page, name="wallboard"),
]
