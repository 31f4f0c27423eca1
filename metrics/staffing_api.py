"""The staffing planner over HTTP (docs/staffing.md): agents needed per hour of the week.

Managers only (staff and supervisors): it is a plan for the whole team. The query string is
validated by StaffingInput (a bad value is a 400, never a 500); metrics.staffing computes.
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.models import Site
from metrics import staffing
from metrics.permissions import ManagersOnly

MAX_WEEKS = 26
MAX_CONCURRENCY = 10


class StaffingInput(serializers.Serializer):
    weeks = serializers.IntegerField(default=staffing.DEFAULT_WEEKS, min_value=1, max_value=MAX_WEEKS,
                                     help_text="Whole weeks of history before today to read arrivals and handle times from.")
    target = serializers.FloatField(default=staffing.DEFAULT_TARGET, min_value=0.01, max_value=0.99,
                                    help_text="Service level to reach: the share of chats waiting at most the threshold.")
    threshold_seconds = serializers.IntegerField(default=int(staffing.DEFAULT_THRESHOLD_SECONDS), min_value=1,
                                                 max_value=3600, help_text="The service level's wait threshold.")
    concurrency = serializers.IntegerField(default=staffing.DEFAULT_CONCURRENCY, min_value=1,
                                           max_value=MAX_CONCURRENCY, help_text="Chats an agent handles at once (cap).")
    slowdown = serializers.FloatField(default=staffing.DEFAULT_SLOWDOWN, min_value=0, max_value=1,
                                      help_text="alpha: each further chat open makes every chat alpha x longer.")
    tz = serializers.CharField(required=False, max_length=64,
                               help_text="IANA zone of the hours of the week. Default: the server's.")
    site = serializers.IntegerField(required=False, min_value=1, help_text="Only this site's chats.")

    def validate_tz(self, value):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(f"unknown time zone {value!r} (an IANA name such as Europe/Vilnius)")

    def validate_site(self, value):
        if not Site.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"no site with id {value}")
        return value

    def validate(self, data):
        data["tz"] = data.get("tz") or ZoneInfo(settings.TIME_ZONE)
        return data


class StaffingRow(serializers.Serializer):
    weekday = serializers.ChoiceField(choices=staffing.WEEKDAYS)
    hour = serializers.IntegerField(help_text="Local hour, 0-23.")
    arrivals_per_hour = serializers.FloatField(help_text="Mean chats queued in this hour of the week.")
    agents = serializers.IntegerField(allow_null=True, help_text="Recommended agents; null without handle times.")
    slots = serializers.IntegerField(allow_null=True, help_text="agents x concurrency")
    load = serializers.FloatField(allow_null=True, help_text="Offered load in erlangs (arrivals x handle time).")
    probability_of_waiting = serializers.FloatField(allow_null=True, help_text="Erlang C")
    service_level = serializers.FloatField(allow_null=True, help_text="Predicted, with the recommended agents.")
    average_wait_seconds = serializers.FloatField(allow_null=True)
    occupancy = serializers.FloatField(allow_null=True, help_text="load / slots")


class StaffingParameters(serializers.Serializer):
    """The query as applied, defaults filled in."""

    weeks = serializers.IntegerField()
    target = serializers.FloatField()
    threshold_seconds = serializers.IntegerField()
    concurrency = serializers.IntegerField()
    slowdown = serializers.FloatField()
    tz = serializers.CharField()
    site = serializers.IntegerField(allow_null=True)


class StaffingWindow(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="Exclusive.")


class StaffingResponse(serializers.Serializer):
    parameters = StaffingParameters()
    window = StaffingWindow(help_text="The history read.")
    handle_seconds_observed = serializers.FloatField(allow_null=True, help_text="Mean handle time of the window.")
    concurrency_observed = serializers.FloatField(allow_null=True, help_text="Mean chats open per busy agent.")
    handle_seconds_planned = serializers.FloatField(allow_null=True, help_text="Mean handle time at `concurrency`.")
    rows = StaffingRow(many=True)


class StaffingView(APIView):
    permission_classes = [ManagersOnly]

    @extend_schema(parameters=[StaffingInput], responses=StaffingResponse)
    def get(self, request):
        """Agents needed per local hour of the week (Monday 00:00 first) for the service-level target,
        by Erlang C with each agent as `concurrency` slots (docs/staffing.md)."""
        data = StaffingInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        p = data.validated_data
        today = timezone.now().astimezone(p["tz"]).date()
        (start, end), plan = staffing.plan_from_history(
            today=today, weeks=p["weeks"], tz=p["tz"], concurrency=p["concurrency"], alpha=p["slowdown"],
            target=p["target"], threshold_seconds=p["threshold_seconds"], site_id=p.get("site"))
        return Response({
            "parameters": {**{k: v for k, v in p.items() if k != "tz"}, "tz": str(p["tz"]), "site": p.get("site")},
            "window": {"start": start.isoformat(), "end": end.isoformat()},
            "handle_seconds_observed": plan.handle_seconds_observed,
            "concurrency_observed": plan.concurrency_observed,
            "handle_seconds_planned": plan.handle_seconds_planned,
            "rows": plan.rows,
        })
