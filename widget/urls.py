from django.urls import path

from widget import views

urlpatterns = [
    path("", views.demo_shop, name="demo-shop"),
    path("widget.js", views.widget_loader, name="widget-loader"),
    path("widget/strings/<str:language>.json", views.widget_strings, name="widget-strings"),
]
