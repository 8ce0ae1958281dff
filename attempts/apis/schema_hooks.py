"""Adjustments to the generated OpenAPI schema (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""

from __future__ import annotations

import re

from attempts.apis.fair_share import scope_of


def _component(schemas: dict, schema: dict) -> dict:
    ref = schema.get("$ref", "")
    return schemas.get(ref.rsplit("/", 1)[-1], {}) if ref else schema


def require_one_of_bodies(result, generator, request, public):
    """Mark a request body required when it is a oneOf of shapes that each require a key.

    drf-spectacular marks a body required only when its serializer has a required field; the
    staff API's time change (`minutes` or `seconds`) is a oneOf, and answers 400 without a body.
    """
    schemas = result.get("components", {}).get("schemas", {})
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not body:
                continue
            for media in body.get("content", {}).values():
                branches = _component(schemas, media.get("schema", {})).get("oneOf")
                if branches and all(_component(schemas, branch).get("required") for branch in branches):
                    body["required"] = True
    return result


# The 429 of `attempts.apis.fair_share` (answered by the ASGI middleware, so no view declares it).
RATE_LIMITED_COMPONENT = {
    "type": "object",
    "description": "The user's budget for the route is spent: nothing of this request was carried out.",
    "properties": {
        "detail": {"type": "string"},
        "error": {"type": "string", "description": "For people; may be reworded."},
        "code": {"type": "string", "enum": ["rate_limited"]},
        "retry_after": {"type": "integer", "minimum": 1, "description": "Seconds to wait, as in Retry-After."},
    },
    "required": ["detail", "error", "code", "retry_after"],
}
_PARAMETER = re.compile(r"\{[^}]+\}")


def rate_limited_responses(result, generator, request, public):
    """Add the 429 `rate_limited` to every operation of a route with a per-user budget (README "Fair share")."""
    result.setdefault("components", {}).setdefault("schemas", {})["RateLimited"] = RATE_LIMITED_COMPONENT
    for path, path_item in result.get("paths", {}).items():
        if scope_of(_PARAMETER.sub("1", path)) is None:
            continue
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"]["429"] = {
                    "description": "Too many requests of this user on this route: wait Retry-After seconds",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RateLimited"}}},
                }
    return result
