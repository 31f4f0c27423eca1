"""Who reads metrics: managers (staff, supervisors) everything; an agent only their own numbers."""

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
