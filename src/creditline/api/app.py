"""The FastAPI application and its background work."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from creditline import __version__
from creditline.api import problems
from creditline.bootstrap import Container
from creditline.decisions.routes import router as decisions_router
from creditline.ledger.routes import router as ledger_router

log = logging.getLogger(__name__)


class Sweeper:
    """Releases expired holds and ends due freezes every `interval_seconds`, in a thread."""

    def __init__(self, container: Container, interval_seconds: float) -> None:
        self._container = container
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                swept = self._container.ledger.sweep()
                if any(swept.values()):
                    log.info("sweep: %s", swept)
            except Exception:  # keep sweeping; the next pass retries what this one missed
                log.exception("sweep failed")


def create_app(container: Container, *, sweep: bool = False, threads: int | None = None) -> FastAPI:
    """The API over `container`; with `sweep`, a background sweeper runs while it serves.

    Routes call the synchronous services on worker threads; `threads` sets how many.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if threads is not None:
            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        sweeper = Sweeper(container, container.settings.sweep_interval_seconds) if sweep else None
        if sweeper:
            sweeper.start()
        yield
        if sweeper:
            sweeper.stop()

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
    app.include_router(ledger_router)
    app.include_router(decisions_router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
