"""The metrics REST API (docs/metrics.md): summary, per agent, department and tag, timeseries; CSV.

Thin views: MetricsQueryInput validates the query string, metrics.reports computes (settled whole
days from the daily rollup, the rest from the events), the rows are shaped here. An agent (not a supervisor) sees only their own numbers: the
agent filter is forced to them and naming another agent is 403.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Agent, Department
from conversations.models import Tag
from metrics import compute, reports, selectors
from metrics.permissions import ManagersOnly, ManagersOrAgents, scoped_filters
from metrics.renderers import CSVRenderer
from metrics.serializers import (
    AgentRow, DepartmentRow, MetricsQueryInput, PeriodRow, SummaryRow, TagRow, response_serializer,
)


class MetricsView(APIView):
    permission_classes = [ManagersOrAgents]
    renderer_classes = [JSONRenderer, CSVRenderer]

    def options(self, request, *args, **kwargs):
        # The description of the endpoint has no rows for the CSV renderer: JSON, also under `?format=csv`.
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().options(request, *args, **kwargs)

    def filters(self, request) -> dict:
        return scoped_filters(request, MetricsQueryInput)

    def tallies(self, filters: dict, scopes: tuple[str, ...]):
        query = selectors.Query(
            first_day=filters["from"], last_day=filters["to"], granularity=filters["granularity"], tz=filters["tz"],
            site_id=filters.get("site"), department_id=filters.get("department"), tag_id=filters.get("tag"),
        )
        # Settled whole days from the daily rollup, the rest from the events: the same numbers.
        return reports.compute_tallies(query, scopes=scopes)

    @staticmethod
    def respond(filters: dict, rows: list[dict]) -> Response:
        shown = {"from": filters["from"].isoformat(), "to": filters["to"].isoformat(), "tz": str(filters["tz"]),
                 "granularity": filters["granularity"],
                 **{name: filters.get(name) for name in ("agent", "department", "tag", "site")}}
        return Response({"filters": shown, "rows": rows})

    @staticmethod
    def scope_of(filters: dict) -> tuple[str, int]:
        return (compute.AGENT, filters["agent"]) if filters.get("agent") else (compute.TOTAL, compute.NO_KEY)


QUERY = [MetricsQueryInput]


def responses(row_class, name) -> dict:
    """The JSON body, and the CSV that `?format=csv` gives instead (metrics/renderers.py): text, not the JSON shape."""
    return {
        (200, "application/json"): OpenApiResponse(
            response_serializer(row_class, name),
            description="JSON: the filters as applied and the rows. CSV: the rows, nested numbers flattened "
                        "(first_response_seconds_mean, ...), as an attachment."),
        (200, "text/csv"): OpenApiTypes.STR,
    }


class SummaryView(MetricsView):
    @extend_schema(parameters=QUERY, responses=responses(SummaryRow, "MetricsSummary"))
    def get(self, request):
        """All metrics over the range: of the whole team, or of one agent when `agent` is given."""
        filters = self.filters(request)
        scope, key = self.scope_of(filters)
        _, tallies = self.tallies(filters, (scope,))
        tally = selectors.combine(tallies, scope).get(key, compute.Tally())
        return self.respond(filters, [tally.metrics()])


class AgentsView(MetricsView):
    @extend_schema(parameters=QUERY, responses=responses(AgentRow, "MetricsAgents"))
    def get(self, request):
        """One row per agent with any activity in the range (an agent: only their own row)."""
        filters = self.filters(request)
        _, tallies = self.tallies(filters, (compute.AGENT,))
        per_agent = selectors.combine(tallies, compute.AGENT)
        if filters.get("agent"):
            per_agent = {filters["agent"]: per_agent.get(filters["agent"], compute.Tally())}
        names = dict(Agent.objects.filter(pk__in=list(per_agent)).values_list("pk", "display_name"))
        rows = [{"agent_id": pk, "agent": names.get(pk, f"#{pk}"), **tally.metrics()}
                for pk, tally in sorted(per_agent.items())]
        return self.respond(filters, rows)


class DepartmentsView(MetricsView):
    permission_classes = [ManagersOnly]

    @extend_schema(parameters=QUERY, responses=responses(DepartmentRow, "MetricsDepartments"))
    def get(self, request):
        """One row per department (by the chat's department; id null: chats without one)."""
        filters = self.filters(request)
        _, tallies = self.tallies(filters, (compute.DEPARTMENT,))
        per_department = selectors.combine(tallies, compute.DEPARTMENT)
        names = dict(Department.objects.filter(pk__in=list(per_department)).values_list("pk", "name"))
        rows = [{"department_id": pk or None, "department": names.get(pk, "(none)" if not pk else f"#{pk}"),
                 **tally.metrics()} for pk, tally in sorted(per_department.items())]
        return self.respond(filters, rows)


class TagsView(MetricsView):
    permission_classes = [ManagersOnly]

    @extend_schema(parameters=QUERY, responses=responses(TagRow, "MetricsTags"))
    def get(self, request):
        """Tag usage: one row per tag on chats of the range, with its share of all ended chats."""
        filters = self.filters(request)
        _, tallies = self.tallies(filters, (compute.TOTAL, compute.TAG))
        total = selectors.combine(tallies, compute.TOTAL).get(compute.NO_KEY, compute.Tally())
        per_tag = selectors.combine(tallies, compute.TAG)
        tags = {pk: (name, site_id) for pk, name, site_id in
                Tag.objects.filter(pk__in=list(per_tag)).values_list("pk", "name", "site_id")}
        rows = [{"tag_id": pk, "tag": tags.get(pk, (f"#{pk}", None))[0], "site_id": tags.get(pk, (None, None))[1],
                 "share_of_ended": compute.ratio(tally.ended, total.ended), **tally.metrics()}
                for pk, tally in sorted(per_tag.items())]
        return self.respond(filters, rows)


class TimeseriesView(MetricsView):
    @extend_schema(parameters=QUERY, responses=responses(PeriodRow, "MetricsTimeseries"))
    def get(self, request):
        """The summary per period (hour, day, week or month, in `tz`), every period of the range listed."""
        filters = self.filters(request)
        scope, key = self.scope_of(filters)
        buckets, tallies = self.tallies(filters, (scope,))
        rows = [{"period": bucket.label, "start": bucket.start.isoformat(), "end": bucket.end.isoformat(),
                 **tallies.get((i, scope, key), compute.Tally()).metrics()} for i, bucket in enumerate(buckets)]
        return self.respond(filters, rows)
