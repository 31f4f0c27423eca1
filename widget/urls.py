from django.urls import path

from widget import views

urlpatterns = [
    path("", views.demo_shop, name="demo-shop"),
]
