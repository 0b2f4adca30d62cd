"""The OpenAPI document says every answer the JSON API can give.

Routes declare their own refusals (`api.errors.error_responses(403, 404, ...)`). What every
route answers the same way is added here, once, from what the operation is:

- authenticated (its `security`, from `api.auth.require_user`): 401, and 403 on changes
  (a session's CSRF token);
- with parameters or a body: 422 (FastAPI's default `HTTPValidationError` is replaced by
  the error body the API really sends);
- with a body: 400 (unreadable JSON) and 413 (too large, api/body_limit.py).

Every refusal then carries the error body's schema (`ErrorBody`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from api.auth import SAFE_METHODS
from api.errors import ERROR_DESCRIPTIONS, ErrorBody

ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, then cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete(build())  # FastAPI's build caches the document in openapi_schema
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _, definitions = models_json_schema(
        [(ErrorBody, "serialization")], ref_template="#/components/schemas/{model}"
    )
    for name, schema in definitions.get("$defs", {}).items():
        schemas.setdefault(name, schema)

    for path, item in document.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method in METHODS:
            if method in item:
                _complete_operation(method, item[method])

    for unused in ("HTTPValidationError", "ValidationError"):
        if f"/{unused}'" not in str(document.get("paths")):
            schemas.pop(unused, None)


def _complete_operation(method: str, operation: dict[str, Any]) -> None:
    statuses: set[int] = set()
    if operation.get("security"):
        statuses.add(401)
        if method.upper() not in SAFE_METHODS:
            statuses.add(403)
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 413}
    responses = operation.setdefault("responses", {})
    for status in sorted(statuses):
        responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS[status]})
    for status, response in responses.items():
        if status[0] in "45":
            if response.get("description") == "Validation Error":
                response["description"] = ERROR_DESCRIPTIONS[422]
            response["content"] = ERROR_CONTENT
