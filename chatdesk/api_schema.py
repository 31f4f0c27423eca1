"""The error responses of the REST API in its OpenAPI schema.

Every error body is {"code", "detail"} (chatdesk/api_errors.py), whichever view raised it, so the
errors are documented here, once, for every operation, by what the operation can meet: a query or
a body can be invalid (400), every operation needs a session and a role (403), an id in the path
can name nothing (404), a routing action can find the chat or the agent in the wrong state (409),
and a body can be too large (413) or not JSON at all (415).

It also marks every optional query parameter as one that may be sent empty: DRF reads `?tz=` as a
parameter not given (the default applies), not as a bad value.
"""

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error: a stable code to branch on and a sentence to show. Always JSON, also "
                   'when "?format=csv" asked for the rows as CSV.',
    "properties": {
        "code": {"type": "string", "description": "Stable, machine-readable: the codes of each status are "
                                                  "listed in that response's description."},
        "detail": {"type": "string", "description": "What went wrong, for a person; for invalid_field it "
                                                    "starts with the field's name."},
        "fields": {"type": "object", "additionalProperties": {},
                   "description": "invalid_field only: the messages per field (nested as the input is)."},
    },
    "required": ["code", "detail"],
}
INVALID_INPUT = "invalid_field: a query parameter or body field is invalid; `fields` says which and why."
INVALID_BODY = INVALID_INPUT + " parse_error: the body is not valid JSON (or is nested too deeply)."
TOO_LARGE = "request_too_large: the body is larger than the server's MAX_REQUEST_BODY_BYTES."
UNSUPPORTED = "unsupported_media_type: the body is not application/json (nor a form)."
FORBIDDEN = ("not_authenticated: no signed-in session. permission_denied: the signed-in user's role may not do "
             "this (an agent asking for another agent's numbers, or for a supervisor's action).")
NOT_FOUND = "not_found: no such object, or not one this user may see."
CONFLICT = ("illegal_transition: the chat is not in a state that allows this (closed, or already with that "
            "agent). "
            "agent_unavailable: the agent is not online. agent_at_capacity: the agent is at their cap.")
ROUTING_ACTIONS = "/api/conversations/"


def document_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the Error component and each operation's error responses;
    allow an empty value for each optional query parameter."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    for path, operations in result["paths"].items():
        for operation in operations.values():
            for status, description in error_statuses(path, operation).items():
                operation["responses"].setdefault(status, error_response(description))
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result


def error_statuses(path: str, operation: dict) -> dict[str, str]:
    statuses = {}
    takes_body = "requestBody" in operation
    if takes_body:
        statuses["400"] = INVALID_BODY
    elif any(p["in"] == "query" for p in operation.get("parameters", [])):
        statuses["400"] = INVALID_INPUT
    statuses["403"] = FORBIDDEN
    if "{" in path:
        statuses["404"] = NOT_FOUND
    if path.startswith(ROUTING_ACTIONS):
        statuses["409"] = CONFLICT
    if takes_body:
        statuses["413"] = TOO_LARGE
        statuses["415"] = UNSUPPORTED
    return statuses


def error_response(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}}
