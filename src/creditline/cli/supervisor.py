"""`serve --processes N`: N uvicorn worker processes on one port, each with a listening socket
of its own (SO_REUSEPORT), so that the kernel spreads new connections over the workers.

uvicorn's own supervisor hands every worker one shared socket: the first worker to wake takes
every connection waiting, and a client that keeps its connections open (a load balancer, wrk)
can end up on one worker while the others idle — measured: 32 keep-alive connections, all on
one of two workers. Here the workers are spawned (no pool or thread crosses a fork), one that
dies is started again, and SIGTERM or SIGINT stops them all and waits for their requests to
end. The supervisor keeps a bound socket on the port meanwhile, so no other program takes it
between a worker's death and its replacement.

The metrics of one run gather in a directory of its own (`shared_metrics_directory`): each
process writes its counts there and a scrape of any worker sums them (decision 0026).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any, cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("uvicorn.error")
WATCH_SECONDS = 0.5  # how often the supervisor looks for a worker that died
STOP_SECONDS_MAX = 60.0  # a worker still answering requests after SIGTERM is killed then
# prometheus_client's switch to multiprocess mode, read when it is first imported.
METRICS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def shared_metrics_directory() -> Iterator[Path]:
    """A new directory for one run's metrics, named in PROMETHEUS_MULTIPROC_DIR to this process
    and to every worker it starts; removed at the end, so that a run counts from zero as a
    single process does. Enter it before anything imports prometheus_client."""
    directory = Path(tempfile.mkdtemp(prefix="creditline-metrics-"))
    os.environ[METRICS_DIRECTORY_VARIABLE] = str(directory)
    try:
        yield directory
    finally:
        del os.environ[METRICS_DIRECTORY_VARIABLE]
        shutil.rmtree(directory)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` that other sockets of ours may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(app: Callable[[], Any], host: str, port: int, log_config: dict[str, Any]) -> None:
    """One worker process: uvicorn over `app()` on a listening socket of its own."""
    config = uvicorn.Config(app, factory=True, host=host, port=port, log_config=log_config)
    sock = reuse_port_socket(host, port)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Runs `processes` workers serving `app()` on `host:port` until SIGTERM or SIGINT, and
    tells `worker_ended` the pid of each worker that died before it was replaced."""

    def __init__(
        self,
        app: Callable[[], Any],
        host: str,
        port: int,
        processes: int,
        log_config: dict[str, Any],
        worker_ended: Callable[[int], None],
    ) -> None:
        self._target = partial(_worker, app, host, port, log_config)
        self._count = processes
        self._worker_ended = worker_ended
        self._context = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._held = reuse_port_socket(host, port)  # fails here when the port is taken

    def run(self) -> int:
        """Serve until asked to stop; the exit code (1 when a worker could not start)."""
        for name in (signal.SIGTERM, signal.SIGINT):
            signal.signal(name, lambda *_: self._stop.set())
        workers = [self._start() for _ in range(self._count)]
        code = 0
        try:
            while not self._stop.wait(WATCH_SECONDS):
                for index, worker in enumerate(workers):
                    exit_code = worker.exitcode
                    if exit_code is None:
                        continue
                    if exit_code == STARTUP_FAILURE:  # the app cannot load: again would not do
                        log.error("worker %s could not start; stopping", worker.pid)
                        code = 1
                        self._stop.set()
                        break
                    log.warning("worker %s exited (%s); starting another", worker.pid, exit_code)
                    self._worker_ended(cast(int, worker.pid))  # a started process has one
                    workers[index] = self._start()
        finally:
            self._terminate(workers)
            self._held.close()
        return code

    def _start(self) -> SpawnProcess:
        worker = self._context.Process(target=self._target, name="creditline-worker")
        worker.start()
        log.info("started worker %s", worker.pid)
        return worker

    @staticmethod
    def _terminate(workers: list[SpawnProcess]) -> None:
        for worker in workers:
            if worker.exitcode is None:
                worker.terminate()  # SIGTERM: uvicorn finishes the requests in hand
        for worker in workers:
            worker.join(STOP_SECONDS_MAX)
            if worker.exitcode is None:
                worker.kill()
                worker.join()
