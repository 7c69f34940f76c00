"""A route of a plain shape, called without FastAPI's generic resolution when its request is
a plain one, and by FastAPI's own handler otherwise.

FastAPI solves a request's dependencies in a generic pass: for each dependency, a recursive
call that looks up its cache key, security scopes, whether it is a generator, and its own
path, query, header and cookie parameters, even for one that only reads the request. Profiled
over the hold route, that pass and the handler around it cost more than half of the framework's
share of a request (the route's own work stubbed out: `bench/http_api.py` measures the whole).

Most routes here have one shape: path and query parameters, at most a JSON body, dependencies
that each take only the request (`PermissionCheck`, the idempotency key, the service the route
uses), and FastAPI's `Response` parameter. For such a route, `DirectCall` calls those
dependencies itself, validates the parameters and the body with FastAPI's own functions, and
calls the endpoint. Anything else (another content type, a body that is not JSON, a parameter
FastAPI refuses) goes to FastAPI's handler, which does the whole request again from the start:
the dependencies only read the request (they count nothing, they change nothing), so what the
caller gets, answers and errors alike, is what FastAPI alone would have given.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.routing import APIRoute

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
JSON_MEDIA_TYPE = "application/json"


class DirectCall:
    """How to call `route` without FastAPI's generic pass; `of` says whether it can be."""

    def __init__(
        self, route: APIRoute, reads: list[tuple[str | None, Callable[..., Any]]], embed: bool
    ) -> None:
        self._route = route
        self._dependant = route.dependant
        self._reads = reads  # (parameter name, dependency) in FastAPI's order
        self._embed_body = embed

    @classmethod
    def of(cls, route: APIRoute) -> DirectCall | None:
        """The direct call of `route`, or None when its shape needs FastAPI's generic pass."""
        dependant = route.dependant
        embed = getattr(route, "_embed_body_fields", None)  # FastAPI's, for its body functions
        if (
            not isinstance(embed, bool)
            or dependant.header_params
            or dependant.cookie_params
            or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name
            or dependant.websocket_param_name
            or not inspect.iscoroutinefunction(dependant.call)
        ):
            return None
        reads = []
        for dependency in dependant.dependencies:
            if dependency.call is None or not _reads_only_the_request(dependency):
                return None
            reads.append((dependency.name, dependency.call))
        return cls(route, reads, embed)

    def handler(self, fastapi_handler: Handler) -> Handler:
        """The route's handler: direct when the request allows it, else FastAPI's."""
        endpoint = self._dependant.call
        assert endpoint is not None

        async def handle(request: Request) -> Response:
            values = await self._values(request)
            if values is None:
                return await fastapi_handler(request)
            answer = await endpoint(**values)
            if not isinstance(answer, Response):  # `answered_as_json` always returns one
                raise TypeError(f"{self._route.name} answered {type(answer).__name__}")
            return answer

        return handle

    async def _values(self, request: Request) -> dict[str, Any] | None:
        """The endpoint's arguments, or None when FastAPI's handler must answer."""
        body: Any = None
        if self._dependant.body_params:
            # As FastAPI: the body is read and parsed before any dependency runs, so that a
            # malformed one is refused first, whoever sent it and with whatever headers.
            body = await _json_body(request)
            if body is None:
                return None
        values: dict[str, Any] = {}
        solved: dict[int, Any] = {}  # by dependency: one read a request, as FastAPI caches
        for name, read in self._reads:  # a refusal (401, 403, 400) is raised as FastAPI would
            if id(read) not in solved:
                solved[id(read)] = await read(request)
            if name is not None:
                values[name] = solved[id(read)]
        for fields, received in (
            (self._dependant.path_params, request.path_params),
            (self._dependant.query_params, request.query_params),
        ):
            if fields:
                parameters, errors = request_params_to_args(fields, received)
                if errors:
                    return None
                values.update(parameters)
        if self._dependant.body_params:
            body_values, errors = await request_body_to_args(
                body_fields=self._dependant.body_params,
                received_body=body,
                embed_body_fields=self._embed_body,
            )
            if errors:
                return None
            values.update(body_values)
        if self._dependant.request_param_name:
            values[self._dependant.request_param_name] = request
        if self._dependant.response_param_name:
            values[self._dependant.response_param_name] = _blank_response()
        return values


def _reads_only_the_request(dependency: Dependant) -> bool:
    """An `async` dependency whose one parameter is the request, with none of its own."""
    call = dependency.call
    coroutine = inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 (an instance such as PermissionCheck)
    )
    return bool(
        coroutine
        and dependency.request_param_name
        and dependency.use_cache
        and not dependency.dependencies
        and not dependency.path_params
        and not dependency.query_params
        and not dependency.header_params
        and not dependency.cookie_params
        and not dependency.body_params
        and not dependency.response_param_name
        and not dependency.background_tasks_param_name
        and not dependency.security_scopes_param_name
        and not dependency.own_oauth_scopes
    )


async def _json_body(request: Request) -> Any | None:
    """The request's body parsed, when it is JSON sent as `application/json`; None for
    anything FastAPI decides otherwise (no body, another type, malformed JSON, `null`, a body
    that could not be read)."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        return None
    try:
        body = await request.body()
    except Exception:  # the caller left mid-body: FastAPI's handler answers that too
        return None
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _blank_response() -> Response:
    """The `Response` FastAPI hands an endpoint to set its status and headers on."""
    response = Response()
    del response.headers["content-length"]
    response.status_code = None  # type: ignore[assignment]
    return response
