"""REST API shapes of routing's actions on conversations: inputs validate, the output describes."""

from rest_framework import serializers

from agents.models import Agent, Department, Skill
from agents.serializers import StringsOnly
from conversations.models import Conversation


class AssignInput(serializers.Serializer):
    agent = serializers.PrimaryKeyRelatedField(queryset=Agent.objects.all())


class TransferInput(StringsOnly, serializers.Serializer):
    """Exactly one of agent, department or skill, with an optional note."""

    agent = serializers.PrimaryKeyRelatedField(queryset=Agent.objects.all(), required=False)
    department = serializers.PrimaryKeyRelatedField(queryset=Department.objects.all(), required=False)
    skill = serializers.PrimaryKeyRelatedField(queryset=Skill.objects.all(), required=False)
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        targets = [name for name in ("agent", "department", "skill") if attrs.get(name) is not None]
        if len(targets) != 1:
            raise serializers.ValidationError("give exactly one of agent, department or skill")
        return attrs


class ConversationSerializer(serializers.ModelSerializer):
    agent_name = serializers.CharField(source="assigned_agent.display_name", read_only=True, default=None,
                                       allow_null=True, help_text="null: no agent holds the chat")

    class Meta:
        model = Conversation
        fields = ["id", "public_id", "status", "assigned_agent", "agent_name", "department", "required_skills",
                  "queued_at"]
        read_only_fields = fields
