"""Watching the service run: every request timed by route and given a request id (the
caller's `X-Request-Id` when it is a sane one), the id on every log line written while the
request is served, JSON log lines in production, and `/metrics`, `/healthz`, `/readyz`.

The middleware is plain ASGI, not Starlette's `BaseHTTPMiddleware`: it adds a few
microseconds to a hold, not a task and a queue per request."""

from __future__ import annotations

import hmac
import logging
import os
import re
from contextvars import ContextVar
from ipaddress import ip_address
from time import perf_counter
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pythonjsonlogger.json import JsonFormatter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditline.bootstrap import Container
from creditline.db.migrate import is_current
from creditline.kernel.errors import Busy, Forbidden
from creditline.kernel.ids import new_unordered_id
from creditline.metrics import Metrics

log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_HEADER_BYTES = REQUEST_ID_HEADER.encode()
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# Business counts read off the API's answers: (method, route template) → counter.
_COUNTED = {
    ("POST", "/v1/lines/{line_id}/drawdowns"): ("holds", "placed"),
    ("POST", "/v1/loans/{loan_id}/repayments"): ("repayments", "recorded"),
}


class NotReady(Busy):
    """The store does not answer, or its schema is not the shipped one: send no traffic."""

    code = "not_ready"


class Observe:
    """Times each request by method, route template and status class, and counts it in
    progress meanwhile; tags it with a request id, returned in `X-Request-Id` and put on every
    log line written meanwhile."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics
        # (method, route, status) → what a request so answered counts in. `labels()` checks
        # and locks on every call; a route's children never change once made.
        self._counted_in: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = perf_counter()
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        status = 500  # what a request that raised out of the app was answered
        observed = False
        self._metrics.requests_in_progress.inc()

        def observe() -> None:
            nonlocal observed
            if not observed:
                observed = True
                self._metrics.requests_in_progress.dec()
                self._observe(scope, status, perf_counter() - started)

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Counted before the caller has the whole answer: a scrape it makes next, of
                # any worker, counts it.
                observe()
            await send(message)

        try:
            await self._app(scope, receive, tagged)
        finally:
            REQUEST_ID.reset(token)
            observe()  # an answer that never ended: the app raised, or the caller left

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        key = (scope["method"], getattr(scope.get("route"), "path", "unmatched"), status)
        counted_in = self._counted_in.get(key)
        if counted_in is None:
            counted_in = self._counted_in.setdefault(key, self._children(*key))
        timer, counter = counted_in
        timer.observe(seconds)
        if counter is not None:
            counter.inc()

    def _children(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The request-time histogram's child for a request so answered, and the business
        counter's (None for a route that counts nothing)."""
        timer = self._metrics.request_seconds.labels(method, route, f"{status // 100}xx")
        counted = _COUNTED.get((method, route))
        if counted is None:
            return timer, None
        name, success = counted
        result = success if status < 400 else "refused" if status < 500 else "failed"
        counter = self._metrics.holds if name == "holds" else self._metrics.repayments
        return timer, counter.labels(result)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_HEADER_BYTES:
            given = bytes(value).decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(given):
                return given
            break
    return new_unordered_id()


def install(app: FastAPI, container: Container) -> None:
    """The middleware, and the routes a load balancer and Prometheus ask."""
    app.add_middleware(Observe, metrics=container.metrics)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str | int]:
        """Alive: the process answers, and says which it is (`serve --processes` runs several)."""
        return {"status": "ok", "process": os.getpid()}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> dict[str, str]:
        """Ready for traffic: the store answers and its schema is the shipped one."""
        try:
            current = is_current(container.db.engine)
        except Exception as error:  # the store is down: say so, do not fail the probe
            log.warning("not ready: %s", error)
            raise NotReady("the store does not answer") from None
        if not current:
            raise NotReady("the store's schema is not at this version's migrations")
        return {"status": "ready"}

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """The metrics in Prometheus's text format (a bearer of the metrics token, or the
        machine itself when no token is set)."""
        _may_scrape(request, container.settings.metrics_token)
        # Under `serve --processes` the registry sums every process's files: the whole server.
        return Response(generate_latest(container.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: Request, token: str | None) -> None:
    if token is None:
        host = request.client.host if request.client else ""
        try:
            if ip_address(host).is_loopback:
                return
        except ValueError:
            if host == "testclient":  # Starlette's test client, in-process
                return
        raise Forbidden("metrics are served to this machine only (set CREDITLINE_METRICS_TOKEN)")
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Forbidden("the metrics token is missing or wrong")


class _WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def log_config(json_lines: bool) -> dict[str, Any]:
    """Logging for `serve` (uvicorn's `log_config`): one JSON object per line in production,
    readable lines in development; each with the request id of the request it belongs to."""
    formatter: dict[str, Any] = (
        {
            "()": JsonFormatter,
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": _WithRequestId}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": "INFO"},
        "loggers": {
            name: {"handlers": ["default"], "level": "INFO", "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
