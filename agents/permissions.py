"""Who may do what over the REST API.

Managers (Django staff or superusers, and agents whose role is supervisor) may do everything.
Agents may read agents, skills and departments and change only their own status. Anyone else,
signed in or not, gets 403.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from agents.models import Agent


def agent_of(user) -> Agent | None:
    return getattr(user, "agent", None) if user.is_authenticated else None


def is_manager(user) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    agent = agent_of(user)
    return agent is not None and agent.role == Agent.Role.SUPERVISOR


class ManagersWriteAgentsRead(BasePermission):
    """Skills, departments: agents read, managers also write."""

    def has_permission(self, request, view) -> bool:
        if is_manager(request.user):
            return True
        return request.method in SAFE_METHODS and agent_of(request.user) is not None


class ManagersOnly(BasePermission):
    """Routing actions on conversations."""

    def has_permission(self, request, view) -> bool:
        return is_manager(request.user)


class AgentsReadOwnStatusWrite(BasePermission):
    """Agents: everyone on the team reads; an agent changes their own status and nothing else."""

    OWN_FIELDS = {"status"}

    def has_permission(self, request, view) -> bool:
        return is_manager(request.user) or agent_of(request.user) is not None

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS or is_manager(request.user):
            return True
        own = agent_of(request.user)
        # A body that is no JSON object changes nothing of theirs (and set() of a number would raise).
        return (own is not None and own.pk == obj.pk and isinstance(request.data, dict)
                and set(request.data) <= self.OWN_FIELDS)
