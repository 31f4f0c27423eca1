"""Every REST API error as {"code": ..., "detail": ...}, never a 500 for a refused change.

A refused lifecycle change maps by what went wrong: the chat or the agent is not in a state that
allows it (illegal_transition, agent_unavailable, agent_at_capacity) is 409; a bad value is 400.
Validation errors are 400 with code invalid_field and the messages per field under "fields"; so is a
`?format=` the endpoint does not render (DRF's own answer is a 404).
An error is always JSON, whatever the request asked for (`?format=csv`, a browser's Accept).
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes, schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from agents.presence import PresenceError
from conversations.lifecycle import AgentAtCapacity, AgentUnavailable, IllegalTransition, LifecycleError

CONFLICTS = (IllegalTransition, AgentUnavailable, AgentAtCapacity)
# Also the code of daphne's own refusal of a body over MAX_REQUEST_BODY_BYTES (chatdesk/daphne_limits.py).
REQUEST_TOO_LARGE = "request_too_large"


def too_large(limit: int) -> dict:
    return {"code": REQUEST_TOO_LARGE, "detail": f"The request body is larger than the limit of {limit} bytes."}


def exception_handler(exc, context):
    response = error_response(exc, context)
    if response is not None:
        request = context["request"]
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
    return response


def error_response(exc, context) -> Response | None:
    if isinstance(exc, RequestDataTooBig):  # Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE), under any server
        return Response(too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, LifecycleError):
        code = status.HTTP_409_CONFLICT if isinstance(exc, CONFLICTS) else status.HTTP_400_BAD_REQUEST
        return Response({"code": exc.code, "detail": str(exc)}, status=code)
    if isinstance(exc, PresenceError):
        return Response({"code": exc.code, "detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404) and getattr(context["request"], "accepted_renderer", None) is None:
        # Content negotiation, the first thing a view does, refuses a `?format=` it has no renderer
        # for with a bare Http404; it is a bad query parameter, not a missing object.
        exc = exceptions.ValidationError({"format": [unknown_format(context["view"])]})
    elif isinstance(exc, Http404):
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


def unknown_format(view) -> str:
    formats = dict.fromkeys(renderer.format for renderer in view.get_renderers())
    return f"not a format of this endpoint: one of {', '.join(formats)}"


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


@api_view(["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"])
@authentication_classes([])  # no session, so no CSRF check: an unknown path is a 404 for everyone
@permission_classes([])
@schema(None)
def not_found(request, path):
    """Any path under /api/ that names no endpoint: the Error body, not Django's HTML page."""
    raise exceptions.NotFound()
