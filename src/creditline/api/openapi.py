"""The OpenAPI document: the bearer scheme, and every error a route can send documented as a
problem document (`application/problem+json`), beside the answers the routes declare."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from creditline.api.documents.problems import Problem
from creditline.api.problems import PROBLEM_JSON

BEARER = "bearer"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# What any route that needs a token may answer: no or a bad token, a role without the
# permission, something it names not found (or not the caller's), a malformed value, too many
# requests, a busy store, a bug.
_ALWAYS = {
    401: "no bearer token, or one that is not valid (`unauthenticated`, `token_expired`)",
    403: "the caller's role may not do this, or it is not theirs (`forbidden`)",
    404: "what the request names does not exist or is not the caller's",
    422: "a value the request carries is refused (`invalid_request` and the domain's codes)",
    429: "too many requests of this kind for now; `Retry-After` says when to try again",
    500: "an internal error; nothing was changed",
    503: "the store is busy or not ready; `Retry-After` says when to try again",
}
# What a command (a route with a body or an idempotency key) may answer besides.
_COMMANDS = {
    400: "the body is not JSON (`malformed_json`), or the `Idempotency-Key` is missing",
    409: "the state does not allow it (the domain's codes)",
}


def problem_responses(command: bool) -> dict[int | str, dict[str, Any]]:
    """The problem answers a route may send (a `command` more), each as a problem document."""
    statuses = {**_ALWAYS, **(_COMMANDS if command else {})}
    return {
        status: {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
        }
        for status, description in sorted(statuses.items())
    }


def install(app: FastAPI) -> None:
    """Serve the OpenAPI document with the problem schema and the bearer scheme."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = document.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}))
            schemas["Problem"] = problem
            components["securitySchemes"] = {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "a token signed by the lender (HS256), naming its key (`kid`)",
                }
            }
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
