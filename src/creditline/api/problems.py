"""RFC 9457 problem documents: the only place where domain errors meet HTTP status codes."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditline.api.auth import Unauthenticated
from creditline.kernel import errors
from creditline.kernel.invariant import InvariantViolation

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
    (errors.NotFound, 404),
    (errors.IdempotencyKeyReused, 422),
    (errors.Busy, 503),
    (errors.Conflict, 409),
    (errors.InvalidInput, 422),
)

# Body fields whose malformed values are amounts: they get the amount error code.
_AMOUNT_FIELDS = {"amount", "limit"}


def status_of(error: errors.DomainError) -> int:
    for error_type, status in _STATUS:
        if isinstance(error, error_type):
            return status
    return 400


def problem(
    status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        **extra,
    }
    headers = {"Retry-After": "1"} if status == 503 else None
    return ProblemResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class ProblemResponse(JSONResponse):
    """A problem document, ASCII-escaped: whatever the request echoed, it always encodes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _title(code: str) -> str:
    return code.replace("_", " ").capitalize()


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(errors.DomainError)
    async def domain_error(request: Request, exc: errors.DomainError) -> JSONResponse:
        return problem(
            status_of(exc),
            exc.code,
            _title(exc.code),
            exc.message,
            request.url.path,
            **({"details": exc.details} if exc.details else {}),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
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
                f"{field or 'body'}: {p.get('msg')}"
                for field, p in zip(fields, problems, strict=True)
            ),
            request.url.path,
            errors=[
                {"field": f, "message": p.get("msg")} for f, p in zip(fields, problems, strict=True)
            ],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, _title(code), str(exc.detail), request.url.path)

    @app.exception_handler(InvariantViolation)
    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not a rejection: the transaction rolled back, so nothing was changed.
        log.error("request failed: %s", exc, exc_info=exc)
        return problem(
            500,
            "internal_error",
            "Internal error",
            "an internal error occurred; nothing was changed",
            request.url.path,
        )
