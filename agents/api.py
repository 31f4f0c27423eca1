"""The REST API for agents, skills and departments (docs/routing.md); routing actions on
conversations are routing/api.py.

Thin views: an input serializer validates, agents.services acts, an output serializer shapes.
Errors are {"code", "detail"} bodies (chatdesk/api_errors.py).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.response import Response

from agents import services
from agents.models import Agent, Department, Skill
from agents.permissions import AgentsReadOwnStatusWrite, ManagersWriteAgentsRead, agent_of
from agents.serializers import AgentSerializer, AgentUpdateInput, DepartmentSerializer, SkillSerializer

# Ids are integers: any other segment matches no route and is a JSON 404 (chatdesk.api_errors.not_found),
# never a lookup that fails in the database.
ID_PATTERN = "[0-9]+"


class AgentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Agents with their skills. PATCH changes profile, departments, skills, cap and status."""

    serializer_class = AgentSerializer
    permission_classes = [AgentsReadOwnStatusWrite]
    queryset = Agent.objects.select_related("user").prefetch_related("departments", "agent_skills__skill").order_by("id")
    lookup_value_regex = ID_PATTERN

    @extend_schema(request=AgentUpdateInput, responses=AgentSerializer)
    def partial_update(self, request, pk=None):
        agent = self.get_object()
        data = AgentUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if "skills" in fields:
            fields["skills"] = {item["skill"]: item["proficiency"] for item in fields["skills"]}
        services.update_agent(agent=agent, by=agent_of(request.user), **fields)
        return Response(AgentSerializer(self.get_queryset().get(pk=agent.pk)).data)


class SkillViewSet(viewsets.ModelViewSet):
    serializer_class = SkillSerializer
    permission_classes = [ManagersWriteAgentsRead]
    queryset = Skill.objects.order_by("name", "id")
    lookup_value_regex = ID_PATTERN


class DepartmentViewSet(viewsets.ModelViewSet):
    """Departments and their routing settings; a change is applied by a routing pass after commit."""

    serializer_class = DepartmentSerializer
    permission_classes = [ManagersWriteAgentsRead]
    queryset = Department.objects.order_by("name", "id")
    lookup_value_regex = ID_PATTERN

    def perform_create(self, serializer):
        serializer.save()
        services.route_everywhere_after_commit()

    def perform_update(self, serializer):
        serializer.save()
        services.route_everywhere_after_commit()
