"""How a route's document becomes a response: encoded to JSON once, and a command's result with
its status and replay header; a sync route handed to its thread.

FastAPI sends a route's returned dict through `jsonable_encoder`, which walks every value in
Python, and then through `json.dumps`. Profiled, the walk cost a hold more than the encoding.
The routes' documents hold JSON's own types only (amounts and times are strings), so
`answered_as_json` encodes what a route returns with `json.dumps` alone: the same bytes, one
pass. The documents' models (`api/documents/`) describe them in the OpenAPI document; they are
not run on the way out (decision 0024). A command's answer is not encoded at all: it is the
JSON stored with its idempotency key, sent as stored, the same bytes for the first request and
every replay.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

from fastapi import Response

from creditline.db.commands import CommandResult


class JsonDocument(Response):
    """A document already encoded: `json_bytes` of what a route returned."""

    media_type = "application/json"


def json_bytes(document: Any) -> bytes:
    """`document` as Starlette's `JSONResponse` encodes it: compact, UTF-8, no NaN."""
    return json.dumps(
        document, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def answered_as_json(endpoint: Callable[..., Any], status_code: int | None) -> Callable[..., Any]:
    """`endpoint`, its document answered as `JsonDocument` with `status_code` (200 when None),
    or with the status and headers the endpoint set on its `Response` parameter, as FastAPI
    would. A `Response` the endpoint returns is sent as it is.

    A sync endpoint runs on the event loop's executor (`create_app` sizes it), handed over by
    `run_in_executor`, not by FastAPI's `run_in_threadpool`: anyio's hand-off cost a request
    60 µs of CPU against 21 (measured with an endpoint that returns at once), and a hold
    over HTTP 7 % of its rate (`bench/http_api.py --baseline-src`)."""
    parameters = inspect.signature(endpoint, eval_str=True).parameters.values()
    names = [p.name for p in parameters if _is_response(p.annotation)]
    set_on = names[0] if names else None

    def reply(document: Any, values: dict[str, Any]) -> Response:
        if isinstance(document, Response):
            return document
        given = values[set_on] if set_on is not None else None
        status = (given.status_code if given is not None else None) or status_code or 200
        answer = JsonDocument(json_bytes(document), status)
        if given is not None:
            answer.raw_headers.extend(given.raw_headers)
        return answer

    if inspect.iscoroutinefunction(endpoint):

        async def answer_async(**values: Any) -> Response:
            return reply(await endpoint(**values), values)

        return functools.update_wrapper(answer_async, endpoint)

    def answer(values: dict[str, Any]) -> Response:
        return reply(endpoint(**values), values)

    async def answer_on_thread(**values: Any) -> Response:
        run = contextvars.copy_context().run  # the request's id goes along to its logs
        return await asyncio.get_running_loop().run_in_executor(None, run, answer, values)

    return functools.update_wrapper(answer_on_thread, endpoint)


def _is_response(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Response)


def command_reply(result: CommandResult, response: Response, status: int = 200) -> Response:
    """The command's answer with `status`: its JSON as stored with its idempotency key, sent
    as it is (not decoded and encoded again), so that every request with the key gets the same
    bytes. A replay of an earlier request says so (`Idempotent-Replayed: true`). `response`
    is the route's own, for headers a route set before."""
    answer = JsonDocument(result.text.encode("utf-8"), status)
    answer.raw_headers.extend(response.raw_headers)
    if result.replayed:
        answer.headers["Idempotent-Replayed"] = "true"
    return answer
