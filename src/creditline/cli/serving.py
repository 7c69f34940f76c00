"""`creditline serve`: one process, or N worker processes under a supervisor (`--processes`)."""

from __future__ import annotations

import dataclasses
import gc
import logging
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer

from creditline.cli.app import app, fail, settings_or_fail
from creditline.config import Settings, load_settings
from creditline.db.engine import POOL_SIZE

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)
PROCESSES_MAX = 64
# Allocations between collections of young objects (Python's default: 700). A request makes
# thousands of short-lived objects, nearly all freed by their counts, not by the collector.
GC_YOUNG_THRESHOLD = 7_000


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    # A thread per pooled connection: more would only open connections that are closed again.
    workers: Annotated[
        int, typer.Option(help="Threads serving requests, per process.")
    ] = POOL_SIZE,
    processes: Annotated[
        int,
        typer.Option(min=1, max=PROCESSES_MAX, help="Processes serving requests on the port."),
    ] = 1,
) -> None:
    """Serve the API and the pages (`/` leads to sign-in); in the background, sweep expired
    holds and due freezes and deliver the outbox (CREDITLINE_DISPATCH=off leaves delivery to
    `creditline dispatch`).

    With --processes N, N worker processes serve the port, each with a socket of its own so
    that the kernel spreads connections over them (see `cli/supervisor.py`); the background
    work then runs once, in the supervising process, not in each worker, and `/metrics` on any
    worker counts the whole server."""
    settings = settings_or_fail()
    try:
        settings.refuse_unsafe_signing_key()
    except ValueError as exc:
        fail(f"refusing to serve: {exc}")
    if processes == 1:
        _serve_one(settings, host, port, workers)
        return
    from creditline.cli.supervisor import shared_metrics_directory

    # Before anything imports prometheus_client: every process of the run writes its metrics
    # there, this one (the background jobs') included.
    with shared_metrics_directory() as directory:
        shared = dataclasses.replace(settings, metrics_directory=directory)
        code = _serve_many(shared, host, port, workers, processes)
    raise typer.Exit(code)


def _serve_one(settings: Settings, host: str, port: int, threads: int) -> None:
    """One uvicorn process, with the background work in its lifespan."""
    import uvicorn

    from creditline.api.observability import log_config
    from creditline.bootstrap import build
    from creditline.web.app import create_site

    container = build(settings)
    _announce(host, port)
    site = create_site(container, sweep=True, dispatch=settings.dispatch, threads=threads)
    logs = log_config(json_lines=not settings.is_development)
    _settle_heap()
    uvicorn.run(site, host=host, port=port, log_config=logs)


def _serve_many(settings: Settings, host: str, port: int, threads: int, processes: int) -> int:
    """`processes` workers under a supervisor, which runs the background work; its exit code."""
    import logging.config

    from creditline.api.app import background_jobs
    from creditline.api.observability import log_config
    from creditline.bootstrap import build
    from creditline.cli.supervisor import Supervisor

    container = build(settings)
    _announce(host, port)
    logs = log_config(json_lines=not settings.is_development)
    logging.config.dictConfig(logs)
    log.info("this run's metrics gather in %s", settings.metrics_directory)
    try:
        supervisor = Supervisor(
            partial(worker_site, threads),
            host,
            port,
            processes,
            logs,
            worker_ended=container.metrics.forget_process,
        )
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc.strerror}")
    jobs = background_jobs(container, sweep=True, dispatch=settings.dispatch)
    for job in jobs:
        job.start()
    try:
        return supervisor.run()
    finally:
        for job in jobs:
            job.stop()
        container.close()


def worker_site(threads: int) -> FastAPI:
    """One worker process's site for `serve --processes`: its own container on the schema the
    supervisor migrated, no background work (the supervisor does it)."""
    from creditline.bootstrap import build
    from creditline.web.app import create_site

    site = create_site(build(load_settings(), migrate=False), threads=threads)
    _settle_heap()
    return site


def _settle_heap() -> None:
    """Before serving: what starting made (modules, routes, the container) lives as long as the
    process, so collections stop walking it; young collections run less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def _announce(host: str, port: int) -> None:
    url = f"http://{_url_host(host)}:{port}/"
    typer.echo(f"creditline: open {url} to sign in; the API's docs are at {url}docs")


def _url_host(host: str) -> str:
    """How `host` is written in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host
