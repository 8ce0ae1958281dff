"""Adjustments to the generated OpenAPI schema (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""

from __future__ import annotations


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
