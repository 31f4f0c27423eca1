"""Conversion rate and visitor engagement over HTTP (docs/metrics.md), one row per local day.

Same query string and the same rules as the other metrics endpoints (metrics/api.py): managers see
everything; an agent sees only the conversion of the chats they closed (the agent filter is forced
to them) and no engagement, which has no agent.
"""

import re

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics import conversion
from metrics.permissions import ManagersOnly, ManagersOrAgents, scoped_filters
from metrics.serializers import MetricsQueryInput

_GOAL_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class ConversionInput(MetricsQueryInput):
    """from, to, tz, site, agent as for every metrics endpoint; goal: one goal name only."""

    goal = serializers.CharField(required=False, max_length=64, help_text="Count only goals with this name.")
    DROPPED = ("granularity", "department", "tag")

    def get_fields(self):
        fields = super().get_fields()
        for name in self.DROPPED:
            fields.pop(name, None)
        return fields

    def validate_goal(self, value):
        if not _GOAL_NAME.match(value):
            raise serializers.ValidationError("a goal name is 1-64 letters, digits, _ . : -")
        return value

    def validate(self, data):
        data["granularity"] = "day"  # the days are the periods; the range limits are the parent's
        data = super().validate(data)
        data.pop("granularity")
        return data


class EngagementInput(ConversionInput):
    """from, to, tz, site."""

    DROPPED = ("granularity", "department", "tag", "agent", "goal")


class ConversionRow(serializers.Serializer):
    closed_chats = serializers.IntegerField(help_text="Chats closed (with an agent reply) in the period.")
    conversion_eligible = serializers.IntegerField(help_text="Of those, chats whose 7-day window has passed.")
    converted_chats = serializers.IntegerField(help_text="Eligible chats followed by a goal of the visitor.")
    conversion_pending = serializers.IntegerField(help_text="Closed chats whose window is still open.")
    conversion_rate = serializers.FloatField(allow_null=True, help_text="converted_chats / conversion_eligible")
    converted_value = serializers.CharField(help_text="Sum of the first goal's value of each converted chat.")


class EngagementRow(serializers.Serializer):
    visitors = serializers.IntegerField(help_text="Visitors whose widget connected.")
    engaged_visitors = serializers.IntegerField(help_text="Of those, visitors who started a chat.")
    engagement = serializers.FloatField(allow_null=True, help_text="engaged_visitors / visitors")
    widget_loads = serializers.IntegerField(help_text="Browser sessions whose widget connected (hello new_visit).")
    chats = serializers.IntegerField(help_text="Chats started.")
    chats_per_load = serializers.FloatField(allow_null=True, help_text="chats / widget_loads")


def _with_period(row_class, name):
    return type(name, (row_class,), {
        "period": serializers.CharField(help_text="The local day."), "start": serializers.DateTimeField(),
        "end": serializers.DateTimeField()})


class EngagementFilters(serializers.Serializer):
    """The filters as applied."""

    # "from" is a Python keyword, so the fields are declared in get_fields.
    def get_fields(self):
        return {"from": serializers.DateField(), "to": serializers.DateField(), "tz": serializers.CharField(),
                "site": serializers.IntegerField(allow_null=True)}


class ConversionFilters(EngagementFilters):
    def get_fields(self):
        return {**super().get_fields(), "agent": serializers.IntegerField(allow_null=True),
                "goal": serializers.CharField(allow_null=True)}


def _response(row_class, filters_class, name):
    return type(name, (serializers.Serializer,), {
        "filters": filters_class(), "total": row_class(), "rows": _with_period(row_class, name + "Day")(many=True),
    })


def _shown(filters: dict, names: tuple[str, ...]) -> dict:
    return {"from": filters["from"].isoformat(), "to": filters["to"].isoformat(), "tz": str(filters["tz"]),
            **{name: filters.get(name) for name in names}}


class ConversionView(APIView):
    permission_classes = [ManagersOrAgents]

    @extend_schema(parameters=[ConversionInput],
                   responses=_response(ConversionRow, ConversionFilters, "MetricsConversion"))
    def get(self, request):
        """Conversion rate per local day (the day the chat closed) and over the range."""
        filters = scoped_filters(request, ConversionInput)
        buckets = conversion.day_buckets(filters["from"], filters["to"], filters["tz"])
        chats, goals = conversion.load_conversion(buckets[0].start, buckets[-1].end, site_id=filters.get("site"),
                                                  agent_id=filters.get("agent"))
        tallies = conversion.conversion(chats, goals, buckets=buckets, as_of=timezone.now(),
                                        goal_name=filters.get("goal"))
        total = conversion.ConversionTally()
        for tally in tallies:
            total.merge(tally)
        return Response({"filters": _shown(filters, ("site", "agent", "goal")), "total": total.metrics(),
                         "rows": conversion.ratio_rows(buckets, tallies)})


class EngagementView(APIView):
    permission_classes = [ManagersOnly]

    @extend_schema(parameters=[EngagementInput],
                   responses=_response(EngagementRow, EngagementFilters, "MetricsEngagement"))
    def get(self, request):
        """Visitor engagement per local day and over the range (a visitor counts once in the total)."""
        data = EngagementInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        filters = dict(data.validated_data)
        buckets = conversion.day_buckets(filters["from"], filters["to"], filters["tz"])
        loads, starts = conversion.load_engagement(buckets[0].start, buckets[-1].end, site_id=filters.get("site"))
        tallies, total = conversion.engagement(loads, starts, buckets=buckets)
        return Response({"filters": _shown(filters, ("site",)), "total": total.metrics(),
                         "rows": conversion.ratio_rows(buckets, tallies)})
