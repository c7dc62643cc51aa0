"""The schema documents the error answers each operation can give, in the one JSON error format."""

import threading
from typing import Any

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.request import Request
from rest_framework.response import Response

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error answer under /api/: a stable machine code, a human message, and the fields at fault.",
    "properties": {
        "code": {"type": "string", "example": "invalid_transition"},
        "detail": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": True},
    },
    "required": ["code", "detail", "fields"],
}

WHY = {
    "400": "Bad input: `fields` names each field at fault. Nothing was saved.",
    "401": "Not signed in, or the token is not valid.",
    "403": "Signed in, but this role or unit may not do this.",
    "404": "No such object, or one outside the user's scope.",
    "409": "The object's state forbids this, or a race was lost.",
    "413": "The request or an uploaded photo is too large.",
    "415": "The request body's media type is not JSON, form or multipart.",
    "429": "Too many requests; try again later.",
}
# Operations whose own throttle may answer 429.
THROTTLED = {
    ("/api/v1/auth/code/", "post"),
    ("/api/v1/auth/token/", "post"),
    ("/api/v1/orders/", "post"),
    ("/api/v1/certificates/{number}/", "get"),
    ("/api/v1/messages/", "post"),
    ("/api/v1/stories/{id}/comments/", "post"),
    ("/api/v1/stories/{id}/like/", "post"),
    ("/api/v1/votes/current/", "post"),
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the Error component and each operation's error answers."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in _statuses(path, method, operation):
                responses.setdefault(
                    status,
                    {
                        "description": WHY[status],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    # Any request may carry a bad token (401) or be refused for its role (403).
    statuses = ["401", "403"]
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation or method in ("post", "put", "patch")
    if has_body or any(p.get("in") == "query" for p in parameters):
        statuses.append("400")
    # A page past the last (DRF's pagination) is a 404 too.
    if any(p.get("in") == "path" or p.get("name") == "page" for p in parameters):
        statuses.append("404")
    if method == "post" and not path.startswith("/api/v1/auth/"):
        statuses.append("409")
    if has_body:
        statuses += ["413", "415"]
    if (path, method) in THROTTLED:
        statuses.append("429")
    return statuses


class SchemaView(SpectacularAPIView):
    """The schema, built one request at a time: drf-spectacular loads its extensions lazily and two
    first requests at once can see each other's half-loaded state (a 500)."""

    _building = threading.Lock()

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with self._building:
            return super().get(request, *args, **kwargs)
