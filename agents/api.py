"""The REST API for agents, skills, departments and routing actions on conversations (docs/routing.md).

Thin views: an input serializer validates, agents.services / agents.offers / the lifecycle act, an
output serializer shapes. Errors are {"code", "detail"} bodies (chatdesk/api_errors.py).
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agents import offers, services
from agents.models import Agent, Department, Skill
from agents.permissions import AgentsReadOwnStatusWrite, ManagersOnly, ManagersWriteAgentsRead, agent_of
from agents.serializers import (
    AgentSerializer, AgentUpdateInput, AssignInput, ConversationSerializer, DepartmentSerializer, SkillSerializer,
    TransferInput,
)
from conversations import lifecycle
from conversations.models import Conversation


# Ids are integers: any other segment matches no route and is a JSON 404 (chatdesk.api_errors.not_found),
# never a lookup that fails in the database.
ID_PATTERN = "[0-9]+"


def actor_for(request) -> lifecycle.Actor:
    agent = agent_of(request.user)
    return lifecycle.Actor.of_agent(agent) if agent else lifecycle.Actor.system()


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


class ConversationRoutingViewSet(viewsets.GenericViewSet):
    """Supervisors' routing actions on a conversation, each one lifecycle transition."""

    serializer_class = ConversationSerializer
    permission_classes = [ManagersOnly]
    queryset = Conversation.objects.all()
    lookup_value_regex = ID_PATTERN

    @extend_schema(request=AssignInput, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Give a queued chat to an agent (accepted at once or offered, per the chat's department)."""
        conversation = get_object_or_404(Conversation, pk=pk)
        data = AssignInput(data=request.data)
        data.is_valid(raise_exception=True)
        offers.assign(conversation_id=conversation.pk, agent_id=data.validated_data["agent"].pk,
                      actor=actor_for(request), reason={"manual": True})
        return self._current(conversation.pk)

    @extend_schema(request=TransferInput, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        """Move an open chat to an agent (within their cap), a department's queue, or the queue for a skill."""
        conversation = get_object_or_404(Conversation, pk=pk)
        data = TransferInput(data=request.data)
        data.is_valid(raise_exception=True)
        target = data.validated_data
        lifecycle.transfer_conversation(
            conversation_id=conversation.pk, actor=actor_for(request), to_agent=target.get("agent"),
            to_department=target.get("department"), to_skill=target.get("skill"), note=target["note"],
        )
        return self._current(conversation.pk)

    def _current(self, pk: int) -> Response:
        conversation = Conversation.objects.select_related("assigned_agent").get(pk=pk)
        return Response(ConversationSerializer(conversation).data)
