"""Supervisors' routing actions on a conversation over REST (docs/routing.md): assign and transfer.

Thin views: an input serializer validates, routing.offers or the lifecycle acts, the output
serializer shapes. Errors are {"code", "detail"} bodies (chatdesk/api_errors.py).
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agents.api import ID_PATTERN
from agents.permissions import ManagersOnly, agent_of
from conversations import lifecycle
from conversations.models import Conversation
from routing import offers
from routing.serializers import AssignInput, ConversationSerializer, TransferInput


def actor_for(request) -> lifecycle.Actor:
    agent = agent_of(request.user)
    return lifecycle.Actor.of_agent(agent) if agent else lifecycle.Actor.system()


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
