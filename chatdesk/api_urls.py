from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from agents import api
from chatdesk.api_errors import not_found
from routing import api as routing_api

router = SimpleRouter()
router.register("agents", api.AgentViewSet, basename="agent")
router.register("skills", api.SkillViewSet, basename="skill")
router.register("departments", api.DepartmentViewSet, basename="department")
router.register("conversations", routing_api.ConversationRoutingViewSet, basename="conversation")

urlpatterns = [
    path("", include(router.urls)),
    # Included last under /api/ (chatdesk/urls.py): every other API path, the metrics' too, is a JSON 404.
    re_path(r"^(?P<path>.*)$", not_found),
]
