"""REST API shapes: input serializers validate, output serializers describe; neither writes."""

from rest_framework import serializers

from agents.models import Agent, AgentSkill, Department, Skill


class StringsOnly:
    """Text fields take JSON strings only: DRF's CharField would store the number 0 as "0", and the schema
    documents a string. Form input is all strings, so this refuses nothing there."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            not_strings = {name: [serializers.CharField.default_error_messages["invalid"]]
                           for name, field in self.fields.items()
                           if isinstance(field, serializers.CharField) and not field.read_only
                           and data.get(name) is not None and not isinstance(data[name], str)}
            if not_strings:
                raise serializers.ValidationError(not_strings)
        return super().to_internal_value(data)


class SkillSerializer(StringsOnly, serializers.ModelSerializer):
    class Meta:
        model = Skill
        fields = ["id", "slug", "name"]


class DepartmentSerializer(StringsOnly, serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = [
            "id", "name", "strategy", "accept_mode", "offer_timeout_seconds", "min_proficiency",
            "lower_proficiency_after_seconds", "any_agent_after_seconds", "fallback_department",
            "fallback_after_seconds",
        ]

    def validate_fallback_department(self, value):
        if value is not None and self.instance is not None and value.pk == self.instance.pk:
            raise serializers.ValidationError("a department cannot be its own fallback")
        return value


class AgentSkillSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="skill.slug", read_only=True)

    class Meta:
        model = AgentSkill
        fields = ["skill", "slug", "proficiency"]


class AgentSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    skills = AgentSkillSerializer(source="agent_skills", many=True, read_only=True)

    class Meta:
        model = Agent
        fields = [
            "id", "username", "display_name", "role", "status", "max_concurrent_chats", "departments", "skills",
            "last_assigned_at", "status_changed_at", "missed_offers_in_a_row",
        ]
        read_only_fields = fields


class SkillLevelInput(serializers.Serializer):
    skill = serializers.PrimaryKeyRelatedField(queryset=Skill.objects.all())
    proficiency = serializers.IntegerField(min_value=1, max_value=5)


class AgentUpdateInput(StringsOnly, serializers.Serializer):
    """A partial update of an agent: only the fields given change."""

    display_name = serializers.CharField(max_length=100, required=False)
    role = serializers.ChoiceField(choices=Agent.Role.choices, required=False)
    departments = serializers.PrimaryKeyRelatedField(queryset=Department.objects.all(), many=True, required=False)
    skills = SkillLevelInput(many=True, required=False)
    max_concurrent_chats = serializers.IntegerField(min_value=0, max_value=32767, required=False)
    status = serializers.ChoiceField(choices=Agent.Status.choices, required=False)

    def validate_skills(self, value):
        slugs = [item["skill"].pk for item in value]
        if len(slugs) != len(set(slugs)):
            raise serializers.ValidationError("each skill may be given once")
        return value

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: ["not a field of an agent that can be changed"]
                                               for name in sorted(unknown)})
        return attrs
