"""Metrics API shapes: the query input serializer validates; the output serializers document."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from agents.models import Agent, Department
from conversations.models import Site, Tag
from metrics import compute

MAX_DAYS = 366
MAX_HOUR_DAYS = 31
DEFAULT_DAYS = 7
# The days a range may cover: with the look-backs around it (open chats a week before, the FCR window
# after, a day of time zone) it must stay within the dates Python represents, or computing it overflows.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


class MetricsQueryInput(serializers.Serializer):
    """Filters shared by every metrics endpoint (query string)."""

    # "from" is a Python keyword, so the field is declared in get_fields.
    to = serializers.DateField(required=False, help_text="Last local day, YYYY-MM-DD (included). Default: today.")
    tz = serializers.CharField(required=False, max_length=64,
                               help_text="IANA time zone of the days and periods. Default: the server's.")
    granularity = serializers.ChoiceField(choices=compute.GRANULARITIES, default="day",
                                          help_text="Timeseries periods: hour (at most 31 days), day, week, month.")
    agent = serializers.IntegerField(required=False, min_value=1, help_text="Only this agent's numbers.")
    department = serializers.IntegerField(required=False, min_value=1, help_text="Only this department's chats.")
    tag = serializers.IntegerField(required=False, min_value=1, help_text="Only chats with this tag.")
    site = serializers.IntegerField(required=False, min_value=1, help_text="Only this site's chats.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=False, help_text=f"First local day, YYYY-MM-DD. Default: {DEFAULT_DAYS - 1} days before `to`.")
        return fields

    def validate_tz(self, value):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(f"unknown time zone {value!r} (an IANA name such as Europe/Vilnius)")

    def _exists(self, model, value, noun):
        if value is not None and not model.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"no {noun} with id {value}")
        return value

    def validate_agent(self, value):
        return self._exists(Agent, value, "agent")

    def validate_department(self, value):
        return self._exists(Department, value, "department")

    def validate_tag(self, value):
        return self._exists(Tag, value, "tag")

    def validate_site(self, value):
        return self._exists(Site, value, "site")

    def validate(self, data):
        tz = data.get("tz") or ZoneInfo(settings.TIME_ZONE)
        data["tz"] = tz
        last = data.get("to") or timezone.now().astimezone(tz).date()
        first = data.get("from") or last - timedelta(days=DEFAULT_DAYS - 1)
        for name, day in (("to", last), ("from", first)):
            if not FIRST_DAY <= day <= LAST_DAY:
                raise serializers.ValidationError({name: f"must be a day from {FIRST_DAY} to {LAST_DAY}"})
        if first > last:
            raise serializers.ValidationError({"from": "must not be after `to`"})
        days = (last - first).days + 1
        if days > MAX_DAYS:
            raise serializers.ValidationError({"to": f"a range is at most {MAX_DAYS} days, this one is {days}"})
        if data["granularity"] == "hour" and days > MAX_HOUR_DAYS:
            raise serializers.ValidationError(
                {"granularity": f"hourly periods cover at most {MAX_HOUR_DAYS} days, this range is {days}"})
        data["from"], data["to"] = first, last
        return data


class DurationSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True)


# The band labels as compute.histogram names them ("0-10", ..., "600+"), so the two cannot drift apart.
FRT_HISTOGRAM_BANDS = tuple(compute.histogram(np.zeros(0, dtype=np.int64), compute.FRT_HISTOGRAM_BOUNDS))


class FirstResponseHistogramSerializer(serializers.Serializer):
    """First replies counted per band of seconds, lower bound included; the counts add up to
    first_response_seconds.count."""

    # Band labels such as "0-10" are no Python names, so the fields are declared in get_fields.
    def get_fields(self):
        return {band: serializers.IntegerField() for band in FRT_HISTOGRAM_BANDS}


def _ratio(help_text):
    return serializers.FloatField(allow_null=True, help_text=help_text)


class MetricsSerializer(serializers.Serializer):
    """The numbers of one scope and period; docs/metrics.md defines each. Ratios are 0..1, null when
    nothing was measured."""

    chats = serializers.IntegerField(help_text="Chats queued (agent rows: chats assigned to the agent).")
    offline_messages = serializers.IntegerField()
    ended = serializers.IntegerField()
    closed = serializers.IntegerField()
    missed = serializers.IntegerField()
    abandoned = serializers.IntegerField(help_text="Abandoned after waiting at least 10 s.")
    short_abandoned = serializers.IntegerField(help_text="Abandoned within 10 s; left out of rates.")
    abandonment_rate = _ratio("abandoned / (ended - short_abandoned)")
    missed_rate = _ratio("missed / (ended - short_abandoned)")
    service_level = _ratio("first agent reply within 20 s / (ended - short_abandoned)")
    service_level_answered = serializers.IntegerField()
    service_level_eligible = serializers.IntegerField()
    first_response_seconds = DurationSerializer()
    first_response_histogram = FirstResponseHistogramSerializer()
    wait_seconds = DurationSerializer()
    handle_seconds = DurationSerializer()
    wrapup_seconds = DurationSerializer()
    resolution_seconds = DurationSerializer()
    messages_per_chat = _ratio("public visitor and agent messages per closed chat")
    agent_messages = serializers.IntegerField()
    canned_messages = serializers.IntegerField()
    canned_share = _ratio("canned_messages / agent_messages")
    handled_chats = serializers.IntegerField()
    transferred_chats = serializers.IntegerField()
    transfer_rate = _ratio("transferred_chats / handled_chats")
    fcr_eligible = serializers.IntegerField()
    fcr_resolved = serializers.IntegerField()
    fcr_rate = _ratio("fcr_resolved / fcr_eligible")
    online_seconds = serializers.FloatField()
    busy_seconds = serializers.FloatField()
    occupancy = _ratio("busy_seconds / online_seconds")
    average_concurrency = _ratio("chat-seconds / online_seconds")
    chats_per_hour = _ratio("handled chats / online hours")
    csat_responses = serializers.IntegerField(help_text="Chats ended closed or missed that have a survey answer.")
    csat_mean = serializers.FloatField(allow_null=True, help_text="Mean CSAT (1-5), 2 decimals.")
    csat_satisfied_share = _ratio("answers with CSAT 4 or 5 / csat_responses")
    survey_response_rate = _ratio("csat_responses / (closed + missed)")
    nps_responses = serializers.IntegerField(help_text="Answers with an NPS score (0-10).")
    nps_promoters = serializers.IntegerField(help_text="NPS answers of 9 or 10.")
    nps_detractors = serializers.IntegerField(help_text="NPS answers of 0 to 6.")
    nps = serializers.FloatField(
        allow_null=True, help_text="100 x (nps_promoters - nps_detractors) / nps_responses: -100..100, not a ratio.")
    ces_responses = serializers.IntegerField(help_text="Answers with a CES score (1-7).")
    ces_mean = serializers.FloatField(allow_null=True, help_text="Mean CES (1-7), 2 decimals.")


class FiltersSerializer(serializers.Serializer):
    # "from" again: a keyword.
    def get_fields(self):
        return {"from": serializers.DateField(), "to": serializers.DateField(), "tz": serializers.CharField(),
                "granularity": serializers.ChoiceField(choices=compute.GRANULARITIES),
                "agent": serializers.IntegerField(allow_null=True),
                "department": serializers.IntegerField(allow_null=True),
                "tag": serializers.IntegerField(allow_null=True), "site": serializers.IntegerField(allow_null=True)}


class SummaryRow(MetricsSerializer):
    pass


class AgentRow(MetricsSerializer):
    agent_id = serializers.IntegerField()
    agent = serializers.CharField()

    def get_fields(self):
        return _first(super().get_fields(), ["agent_id", "agent"])


class DepartmentRow(MetricsSerializer):
    department_id = serializers.IntegerField(allow_null=True, help_text="null: chats without a department")
    department = serializers.CharField()

    def get_fields(self):
        return _first(super().get_fields(), ["department_id", "department"])


class TagRow(MetricsSerializer):
    tag_id = serializers.IntegerField()
    tag = serializers.CharField()
    site_id = serializers.IntegerField(allow_null=True, help_text="null: the tag no longer exists")
    share_of_ended = _ratio("ended chats with the tag / all ended chats")

    def get_fields(self):
        return _first(super().get_fields(), ["tag_id", "tag", "site_id", "share_of_ended"])


class PeriodRow(MetricsSerializer):
    period = serializers.CharField(help_text="Local start of the period.")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()

    def get_fields(self):
        return _first(super().get_fields(), ["period", "start", "end"])


def _first(fields, names):
    return {**{name: fields[name] for name in names}, **{k: v for k, v in fields.items() if k not in names}}


def response_serializer(row_class, name):
    return type(name, (serializers.Serializer,), {
        "filters": FiltersSerializer(), "rows": row_class(many=True),
        "__doc__": f"Filters as applied, and the rows ({row_class.__name__}).",
    })
