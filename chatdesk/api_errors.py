"""Every REST API error as {"code": ..., "detail": ...}, never a 500 for a refused change.

A refused lifecycle change maps by what went wrong: the chat or the agent is not in a state that
allows it (illegal_transition, agent_unavailable, agent_at_capacity) is 409; a bad value is 400.
Validation errors are 400 with code invalid_field and the messages per field under "fields".
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from agents.presence import PresenceError
from conversations.lifecycle import AgentAtCapacity, AgentUnavailable, IllegalTransition, LifecycleError

CONFLICTS = (IllegalTransition, AgentUnavailable, AgentAtCapacity)


def exception_handler(exc, context):
    if isinstance(exc, LifecycleError):
        code = status.HTTP_409_CONFLICT if isinstance(exc, CONFLICTS) else status.HTTP_400_BAD_REQUEST
        return Response({"code": exc.code, "detail": str(exc)}, status=code)
    if isinstance(exc, PresenceError):
        return Response({"code": exc.code, "detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"code": "invalid_field", "detail": _first_message(exc.detail), "fields": exc.detail}
    elif isinstance(exc, exceptions.APIException):
        response.data = {"code": exc.default_code, "detail": str(exc.detail)}
    return response


def _first_message(detail) -> str:
    """The first message of a nested validation error, prefixed with where it is."""
    path = []
    while isinstance(detail, (dict, list)) and detail:
        if isinstance(detail, dict):
            key = next(iter(detail))
            if key != "non_field_errors":
                path.append(str(key))
            detail = detail[key]
        else:
            detail = next((item for item in detail if item), detail[0])
            if isinstance(detail, dict):
                continue
    message = str(detail)
    return f"{'.'.join(path)}: {message}" if path else message
