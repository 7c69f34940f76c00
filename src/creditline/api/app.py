"""The FastAPI application and its background work."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.routing import APIRoute

from creditline import __version__
from creditline.api import observability, openapi, problems
from creditline.api.routers import ROUTERS
from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.metrics import Metrics

log = logging.getLogger(__name__)
REMIND_INTERVAL_SECONDS = 300.0  # reminders are days ahead: every five minutes is plenty
# Policy changes take effect on a date announced weeks ahead: every minute is on time.
ACTIVATE_INTERVAL_SECONDS = 60.0
# Drift is measured on a month of decisions: hourly sees it the day it shows.
MODEL_CHECK_INTERVAL_SECONDS = 3600.0
MONITOR = Actor("model-monitor", Role.SERVICE)


class Periodic:
    """Runs `work` every `interval_seconds` in a thread until stopped (the sweeper, the
    outbox dispatcher); a failed pass is logged and the next one retries."""

    def __init__(
        self, name: str, work: Callable[[], object], interval_seconds: float, metrics: Metrics
    ) -> None:
        self._name = name
        self._work = work
        self._metrics = metrics
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        """Start the background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for its current pass to end."""
        self._stop.set()
        self._thread.join(timeout=self._interval + 30)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with self._metrics.job_seconds.labels(self._name).time():
                    done = self._work()
                if isinstance(done, dict) and any(done.values()):
                    log.info("%s: %s", self._name, done)
                    if self._name == "dispatch":
                        self._metrics.count_dispatch(done)
            except Exception:
                self._metrics.job_failures.labels(self._name).inc()
                log.exception("%s failed", self._name)


def background_jobs(container: Container, *, sweep: bool, dispatch: bool) -> list[Periodic]:
    """The background work over `container`, not started: with `sweep`, the sweeper (expired
    holds, ended freezes), the reminders, policy activation (scheduled versions whose date has
    come, announced changes that are due) and the model drift check; with `dispatch`, the
    outbox dispatcher."""
    settings, metrics = container.settings, container.metrics
    jobs: list[tuple[str, Callable[[], object], float]] = []
    if sweep:
        jobs.append(("sweep", container.ledger.sweep, settings.sweep_interval_seconds))
        jobs.append(("remind", container.reminders.run, REMIND_INTERVAL_SECONDS))
        jobs.append(
            ("activate-policies", container.policies.activate_due, ACTIVATE_INTERVAL_SECONDS)
        )
        jobs.append(
            (
                "model-drift",
                lambda: container.model_monitor.check(MONITOR),
                MODEL_CHECK_INTERVAL_SECONDS,
            )
        )
    if dispatch:
        jobs.append(
            ("dispatch", container.dispatcher.run_until_idle, settings.dispatch_interval_seconds)
        )
    return [Periodic(name, work, every, metrics) for name, work, every in jobs]


def create_app(
    container: Container,
    *,
    sweep: bool = False,
    dispatch: bool = False,
    threads: int | None = None,
) -> FastAPI:
    """The API over `container`; the `background_jobs` that `sweep` and `dispatch` ask for run
    while it serves.

    Routes call the synchronous services on worker threads; `threads` sets how many (FastAPI's
    default, 40, when None).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        limiter = anyio.to_thread.current_default_thread_limiter()
        if threads is not None:
            limiter.total_tokens = threads
        # The routes' own threads (`answered_as_json`): the loop's executor, as many as
        # FastAPI's pool has for everything else.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(int(limiter.total_tokens), thread_name_prefix="creditline-route")
        )
        workers = background_jobs(container, sweep=sweep, dispatch=dispatch)
        for worker in workers:
            worker.start()
        yield
        for worker in workers:
            worker.stop()

    container.settings.refuse_unsafe_signing_key()
    app = FastAPI(
        title="creditline",
        version=__version__,
        lifespan=lifespan,
        description="Revolving credit lines that are correct, explained, announced and "
        "reversible. Amounts are decimal strings in major units; every POST needs an "
        "`Idempotency-Key` header; errors are RFC 9457 problem documents with a stable `code`.",
    )
    app.state.container = container
    problems.install(app)
    openapi.install(app)
    observability.install(app, container)
    # The routes themselves, not `include_router`: FastAPI matches an included router's
    # routes twice (to choose the router, then the route), which cost a request more than
    # its own dependencies. Each route is tagged with its resource all the same.
    for resource, router in ROUTERS.items():
        for route in router.routes:
            if isinstance(route, APIRoute):
                route.tags = [resource]
            app.router.routes.append(route)
    return app
