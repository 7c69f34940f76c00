"""RFC 9457 problem documents: the only place where domain errors meet HTTP status codes."""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditline.api.auth import Unauthenticated
from creditline.kernel import errors
from creditline.kernel.invariant import InvariantViolation
from creditline.kernel.text import has_refused_characters

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://creditline.dev/problems/"
log = logging.getLogger(__name__)


class IdempotencyKeyMissing(errors.InvalidInput):
    code = "idempotency_key_missing"


# Most specific class first.
_STATUS: tuple[tuple[type[errors.DomainError], int], ...] = (
    (IdempotencyKeyMissing, 400),
    (Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.RateLimited, 429),
    (errors.NotFound, 404),
    (errors.IdempotencyKeyReused, 422),
    (errors.Busy, 503),
    (errors.Conflict, 409),
    (errors.InvalidInput, 422),
)

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# Body fields whose malformed values are amounts: they get the amount error code.
_AMOUNT_FIELDS = {"amount", "limit"}


def status_of(error: errors.DomainError) -> int:
    """The HTTP status of a domain error, by its kind."""
    for error_type, status in _STATUS:
        if isinstance(error, error_type):
            return status
    return 400


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    *,
    retry_after_seconds: int | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 problem document with a stable `code`; `Retry-After` when the client may
    try again later (1 second for a busy store unless said otherwise)."""
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        **extra,
    }
    if retry_after_seconds is None and status == 503:
        retry_after_seconds = 1
    headers = None if retry_after_seconds is None else {"Retry-After": str(retry_after_seconds)}
    return ProblemResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class ProblemResponse(JSONResponse):
    """A problem document, ASCII-escaped: whatever the request echoed, it always encodes."""

    def render(self, content: Any) -> bytes:
        """The problem document as JSON."""
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _title(code: str) -> str:
    return code.replace("_", " ").capitalize()


def _domain_problem(error: errors.DomainError, instance: str) -> JSONResponse:
    """The problem document of a domain error raised while answering `instance`."""
    retry_after_seconds = None
    if isinstance(error, errors.RateLimited):
        retry_after_seconds = error.retry_after_seconds
    return problem(
        status_of(error),
        error.code,
        _title(error.code),
        error.message,
        instance,
        retry_after_seconds=retry_after_seconds,
        **({"details": error.details} if error.details else {}),
    )


class RefuseControlCharacters:
    """Refuses a request whose decoded path, query string or JSON body strings hold a
    character stored text may not (see `kernel.text`), before any route runs.

    PostgreSQL cannot store NUL in text and SQLite can: checked here, once, the two stores
    give the same answer, `invalid_input` naming where the character was, and nothing changes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The body is read whole to be checked, then handed to the route as it came.
        messages = await _body_messages(receive)
        body = b"".join(message.get("body", b"") for message in messages)
        field = _field_with_refused_characters(scope, body)
        if field is not None:
            error = errors.InvalidInput(
                f"{field} contains control characters or lone surrogates", field=field
            )
            await _domain_problem(error, Request(scope).url.path)(scope, receive, send)
            return
        pending = deque(messages)

        async def replay() -> Message:
            return pending.popleft() if pending else await receive()

        await self.app(scope, replay, send)


async def _body_messages(receive: Receive) -> list[Message]:
    messages = [await receive()]
    while messages[-1]["type"] == "http.request" and messages[-1].get("more_body", False):
        messages.append(await receive())
    return messages


def _field_with_refused_characters(scope: Scope, body: bytes) -> str | None:
    """Where a refused character is: "path", "query.<name>" ("query" when it is in a name) or
    a location in the JSON body; None when there is none."""
    if has_refused_characters(scope["path"]):
        return "path"
    # Decoded as Starlette decodes it for the routes.
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    for name, value in query:
        if has_refused_characters(name):
            return "query"
        if has_refused_characters(value):
            return f"query.{name}"
    if not body:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: the route refuses it as malformed
    return _body_field_with_refused_characters(document)


def _body_field_with_refused_characters(document: Any) -> str | None:
    """Where in a parsed JSON body a string holds a refused character ("body.note",
    "body.reason_codes.0"; the object's own location for a name); None when none does."""
    stack = [("body", document)]
    while stack:  # a loop, not recursion: the nesting depth is the client's choice
        location, value = stack.pop()
        if isinstance(value, str):
            # Body text may run over lines (a note); the kernel refuses them where it must.
            if has_refused_characters(value, multiline=True):
                return location
        elif isinstance(value, dict):
            for name, item in value.items():
                if has_refused_characters(name):
                    return location
                stack.append((f"{location}.{name}", item))
        elif isinstance(value, list):
            stack.extend((f"{location}.{index}", item) for index, item in enumerate(value))
    return None


def install(app: FastAPI) -> None:
    """Refuse control characters at the edge; register the handlers that turn every error
    into a problem document."""
    app.add_middleware(RefuseControlCharacters)
    app.add_exception_handler(errors.DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(InvariantViolation, _internal_error)
    app.add_exception_handler(Exception, _internal_error)


async def _domain_error(request: Request, exc: errors.DomainError) -> JSONResponse:
    return _domain_problem(exc, request.url.path)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return problem(
            400,
            "malformed_json",
            "Malformed JSON",
            "the request body is not valid JSON",
            request.url.path,
        )
    fields = [".".join(str(part) for part in p.get("loc", ())[1:]) for p in problems]
    amounts = {
        field
        for field, p in zip(fields, problems, strict=True)
        if p.get("loc", ("",))[0] == "body" and field in _AMOUNT_FIELDS
    }
    for field, p in zip(fields, problems, strict=True):
        if field in amounts and p.get("type") == "string_type":
            p["msg"] = 'must be a decimal string such as "5000.00", not a JSON number'
    code = "invalid_amount" if amounts else "invalid_request"
    return problem(
        422,
        code,
        _title(code),
        "; ".join(
            f"{field or 'body'}: {p.get('msg')}" for field, p in zip(fields, problems, strict=True)
        ),
        request.url.path,
        errors=[
            {"field": f, "message": p.get("msg")} for f, p in zip(fields, problems, strict=True)
        ],
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    answer = problem(exc.status_code, code, _title(code), str(exc.detail), request.url.path)
    if exc.status_code == 405:
        answer.headers["Allow"] = ", ".join(_allowed_methods(request))
    return answer


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path (Starlette names only those of
    the first route that matched it)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # A bug, not a rejection: the transaction rolled back, so nothing was changed.
    log.error("request failed: %s", exc, exc_info=exc)
    return problem(
        500,
        "internal_error",
        "Internal error",
        "an internal error occurred; nothing was changed",
        request.url.path,
    )
