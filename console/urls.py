from django.urls import path

from console import views

urlpatterns = [
    path("console/", views.console_page, name="console"),
    path("console/agents.json", views.agents_json, name="console-agents"),
    path("console/transcript/<uuid:public_id>.json", views.transcript_json, name="console-transcript"),
    path("accounts/login/", views.ConsoleLoginView.as_view(), name="login"),
    path("accounts/logout/", views.ConsoleLogoutView.as_view(), name="logout"),
]
