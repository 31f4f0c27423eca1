from django.urls import include, path
from rest_framework.routers import SimpleRouter

from agents import api

router = SimpleRouter()
router.register("agents", api.AgentViewSet, basename="agent")
router.register("skills", api.SkillViewSet, basename="skill")
router.register("departments", api.DepartmentViewSet, basename="department")
router.register("conversations", api.ConversationRoutingViewSet, basename="conversation")

urlpatterns = [path("", include(router.urls))]
