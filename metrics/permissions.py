"""Who reads metrics: managers (staff, supervisors) everything; an agent only their own numbers."""

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from agents.permissions import agent_of, is_manager


class ManagersOrAgents(BasePermission):
    """Signed in as a manager or an agent; the views narrow an agent to their own numbers."""

    def has_permission(self, request, view) -> bool:
        return is_manager(request.user) or agent_of(request.user) is not None


class ManagersOnly(BasePermission):
    """Team breakdowns (departments, tags): other agents' work is in them."""

    message = "only supervisors and admins see team breakdowns"

    def has_permission(self, request, view) -> bool:
        return is_manager(request.user)


def scoped_filters(request, input_serializer) -> dict:
    """The validated query filters; an agent's are narrowed to their own numbers (another agent's: 403)."""
    data = input_serializer(data=request.query_params)
    data.is_valid(raise_exception=True)
    filters = dict(data.validated_data)
    if not is_manager(request.user):
        own = agent_of(request.user)
        if filters.get("agent") not in (None, own.pk):
            raise PermissionDenied("agents see only their own numbers")
        filters["agent"] = own.pk
    return filters
