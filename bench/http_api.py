"""HTTP at scale (`http_api`: a file `http.py` here would hide the standard library's `http`
from the benches beside it): drawdown holds and line reads through `creditline serve`, by wrk.

Starts `creditline serve --processes N` on a free loopback port over a PostgreSQL database of
its own, opens lines through the service (each client its own, so the figures measure the
request path, not lock waits), and drives wrk (`apt-get install wrk`) at 32 connections:

- `POST /v1/lines/{id}/drawdowns`: a hold of 1.00 over 12 months, each request with its own
  `Idempotency-Key`, each wrk thread with its own bearer token;
- `GET /v1/lines/{id}`: the line's document.

In the same run, the in-process path: the same number of processes, each with its share of the
32 clients as threads, calling `LedgerService.place_hold` and `LedgerService.get_line` on the
same lines with the same settings. Cells alternate (in-process, then HTTP) and each figure is
the median of `--passes` passes; the ratio HTTP / in-process is the figure to compare between
runs on a shared machine (DESIGN.md §7), and so is the CPU each path spends per request (the
server's processes; the in-process workers). Each pass also prints the PostgreSQL sessions each
cell started: a pool that opens and closes connections under load shows there (an in-process
cell's own processes open theirs while warming). The server delivers no notices meanwhile
(CREDITLINE_DISPATCH=off): the in-process path does not either.

With `--baseline-src DIR` (another checkout's `src`, e.g. `git worktree add /tmp/base main`), a
second server runs that code over the same database, and each pass measures it beside this
checkout's: a change to the request path, A/B in the same run.

    .venv/bin/python bench/http_api.py                 # 2 processes, 32 clients, 10 s, 3 passes
    .venv/bin/python bench/http_api.py --processes 1 --seconds 5
    .venv/bin/python bench/http_api.py --baseline-src /tmp/base/src
    .venv/bin/python bench/http_api.py --smoke         # in seconds (the tests)

It is a report, not a test: it exits 0 whatever the figures, non-zero on a broken setup: wrk
missing, the server not starting, any request failing, or the holds in the database not the
ones wrk was answered.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from databases import add_postgres_url, postgres_database
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool
from uncapped import uncapped_products
from wrk_load import START_SECONDS_MAX, Server, wrk

from creditline.bootstrap import build
from creditline.config import load_settings
from creditline.db.engine import normalise_url
from creditline.kernel.actors import Actor, Role
from creditline.ledger.tables import drawdowns

SIGNING_KEY = "bench-http-signing-key-of-at-least-32-bytes"
CURRENCY = "CNY"
LIMIT = "1000000000000.00"  # no run comes near it
AMOUNT = "1.00"
TERM_MONTHS = 12
LINES_PER_CLIENT = 4
WARMUP_SECONDS = 2  # per server process: connections opened, statements prepared
ACTOR = Actor("bench", Role.SERVICE)
SMOKE = {"clients": 4, "seconds": 1, "passes": 1, "processes": 2}
TARGET_RATIO = 0.6
TARGET_P99_MS = 50.0
HOLD_BODY = {"amount": AMOUNT, "term_months": TERM_MONTHS}


@dataclass
class Cell:
    """One measured run: requests (or calls) per second, latency percentiles, and the CPU
    spent per request (or call) by the processes that answered."""

    rate: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    sessions: int = 0  # PostgreSQL sessions started meanwhile: a pool that churns shows here


def server_env(database_url: str) -> dict[str, str]:
    """The server's environment, which the in-process path reads its settings from too."""
    return {
        **os.environ,
        "CREDITLINE_DATABASE_URL": database_url,
        "CREDITLINE_JWT_SIGNING_KEY": SIGNING_KEY,
        "CREDITLINE_PRODUCTS_FILE": str(uncapped_products()),
        "CREDITLINE_DISPATCH": "off",
    }


def open_lines(env: dict[str, str], count: int) -> list[str]:
    """`count` lines through the service (this also migrates the database)."""
    container = build(load_settings(env))
    try:
        return [
            container.ledger.open_line(ACTOR, f"open-{i}", f"b-{i}", CURRENCY, LIMIT).document["id"]
            for i in range(count)
        ]
    finally:
        container.close()


class Sessions:
    """Counts the sessions the bench's database has started (`pg_stat_database.sessions`),
    over one connection kept open, so that counting starts none."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(normalise_url(url), poolclass=NullPool)
        self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def started(self) -> int:
        query = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        return int(self._connection.exec_driver_sql(query).scalar_one())

    def close(self) -> None:
        self._connection.close()
        self._engine.dispose()


def holds_in(env: dict[str, str]) -> int:
    container = build(load_settings(env), migrate=False)
    try:
        with container.db.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(drawdowns)).scalar())
    finally:
        container.close()


# --------------------------------------------------------------------------------------------
# The in-process path: processes × threads, each thread a client on its own lines.
# --------------------------------------------------------------------------------------------
def in_process_worker(
    env: dict[str, str],
    op: str,
    clients: list[list[str]],
    seconds: float,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    container = build(load_settings(env), migrate=False)
    ledger = container.ledger
    run = uuid.uuid4().hex[:12]

    def call(client: int, i: int) -> None:
        lines = clients[client]
        line_id = lines[i % len(lines)]
        if op == "hold":
            ledger.place_hold(ACTOR, f"{run}-{client}-{i}", line_id, AMOUNT, TERM_MONTHS)
        else:
            ledger.get_line(ACTOR, line_id)

    latencies: list[list[float]] = [[] for _ in clients]
    warmed, started = threading.Barrier(len(clients) + 1), threading.Barrier(len(clients) + 1)

    def client_loop(client: int) -> None:
        for i in range(len(clients[client])):  # warm: a connection each, statements prepared
            call(client, -1 - i)
        warmed.wait()
        started.wait()
        deadline = time.perf_counter() + seconds
        i = 0
        while (began := time.perf_counter()) < deadline:
            call(client, i)
            latencies[client].append(time.perf_counter() - began)
            i += 1

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in range(len(clients))]
    for thread in threads:
        thread.start()
    warmed.wait()
    ready.put(os.getpid())
    go.wait()
    started.wait()
    cpu_started = time.process_time()  # every thread of this process
    for thread in threads:
        thread.join()
    cpu_seconds = time.process_time() - cpu_started
    container.close()
    results.put(([x for client in latencies for x in client], cpu_seconds))


def in_process_cell(
    env: dict[str, str], op: str, slots: list[list[str]], processes: int, seconds: float
) -> Cell:
    context = mp.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    shares = [slots[p::processes] for p in range(processes)]
    workers = [
        context.Process(
            target=in_process_worker, args=(env, op, share, seconds, ready, go, results)
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=START_SECONDS_MAX)
    go.set()
    answers = [results.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise SystemExit(f"an in-process worker failed (exit {worker.exitcode})")
    latencies = sorted(x for share, _ in answers for x in share)
    cpu_us = sum(cpu for _, cpu in answers) / len(latencies) * 1e6
    return Cell(len(latencies) / seconds, *percentiles_ms(latencies), cpu_us)


def percentiles_ms(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 of sorted latencies in seconds, in milliseconds (nearest rank)."""
    p50 = latencies[max(0, round(0.50 * len(latencies)) - 1)]
    p99 = latencies[max(0, round(0.99 * len(latencies)) - 1)]
    return p50 * 1e3, p99 * 1e3


# --------------------------------------------------------------------------------------------
# The HTTP path: `creditline serve --processes N` and wrk.
# --------------------------------------------------------------------------------------------
def http_cell(
    server: Server,
    env: dict[str, str],
    op: str,
    lines: list[str],
    clients: int,
    seconds: float,
    folder: Path,
) -> Cell:
    before = holds_in(env) if op == "hold" else 0
    figures = wrk(server, op, lines, clients, seconds, folder, SIGNING_KEY, HOLD_BODY)
    if op == "hold":
        time.sleep(0.5)  # the requests in flight when wrk stopped are answered
        made = holds_in(env) - before
        # wrk counts the answers it read; up to one request a connection was still in flight.
        if not figures["requests"] <= made <= figures["requests"] + clients:
            raise SystemExit(f"wrk was answered {figures['requests']} holds, the store has {made}")
    rate = figures["requests"] / figures["seconds"]
    cpu_us = figures["cpu_seconds"] / max(1, figures["requests"]) * 1e6
    return Cell(rate, figures["p50_ms"], figures["p99_ms"], cpu_us)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def median_of(cells: list[Cell], attr: str) -> float:
    return statistics.median(getattr(cell, attr) for cell in cells)


def report_row(what: str, unit: str, http: list[Cell], inproc: list[Cell]) -> str:
    def med(cells: list[Cell], attr: str) -> float:
        return median_of(cells, attr)

    ratio = med(http, "rate") / med(inproc, "rate")
    return (
        f"{what}: HTTP {med(http, 'rate'):,.0f} req/s, p50 {med(http, 'p50_ms'):.1f} ms, "
        f"p99 {med(http, 'p99_ms'):.1f} ms; in-process {med(inproc, 'rate'):,.0f} {unit}/s, "
        f"p50 {med(inproc, 'p50_ms'):.1f} ms, p99 {med(inproc, 'p99_ms'):.1f} ms; "
        f"HTTP / in-process = {ratio:.2f}x; CPU per request: HTTP {med(http, 'cpu_us'):,.0f} µs, "
        f"in-process {med(inproc, 'cpu_us'):,.0f} µs"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="serve's (and in-process)")
    parser.add_argument("--clients", type=int, default=32, help="connections; in-process threads")
    parser.add_argument("--seconds", type=int, default=10, help="per cell (wrk: whole seconds)")
    parser.add_argument("--passes", type=int, default=3, help="figures are the median of passes")
    parser.add_argument("--smoke", action="store_true", help="a run of seconds (the tests)")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="another checkout's src folder: its server is measured beside this one's",
    )
    add_postgres_url(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    if args.clients < args.processes or args.processes < 1 or args.seconds < 1:
        parser.error("need 1 ≤ processes ≤ clients and whole seconds ≥ 1")
    if args.baseline_src is not None and not (args.baseline_src / "creditline").is_dir():
        parser.error(f"{args.baseline_src} holds no creditline package")
    return args


def measure(
    args: argparse.Namespace, env: dict[str, str], lines: list[str], servers: dict[str, Server]
) -> dict[tuple[str, str], list[Cell]]:
    """Every pass's cells by (operation, path): in-process first, then each server (their
    order turns each pass, so that neither always runs on the other's heels)."""
    folder = next(iter(servers.values())).folder
    slots = [lines[c :: args.clients] for c in range(args.clients)]
    for server in servers.values():  # warm every server process: connections, statements
        for op in ("hold", "get"):
            wrk(server, op, lines, args.clients, WARMUP_SECONDS, folder, SIGNING_KEY, HOLD_BODY)
    cells: dict[tuple[str, str], list[Cell]] = {}
    names = list(servers)
    sessions = Sessions(env["CREDITLINE_DATABASE_URL"])

    def counted(cell: Callable[[], Cell]) -> Cell:
        before = sessions.started()
        measured = cell()
        measured.sessions = sessions.started() - before
        return measured

    for pass_no in range(args.passes):
        for op in ("hold", "get"):
            measured = {
                "in-process": counted(
                    partial(in_process_cell, env, op, slots, args.processes, args.seconds)
                )
            }
            for name in names[pass_no % len(names) :] + names[: pass_no % len(names)]:
                measured[name] = counted(
                    partial(
                        http_cell, servers[name], env, op, lines, args.clients, args.seconds, folder
                    )
                )
            figures = ", ".join(
                f"{name} {cell.rate:,.0f}/s p99 {cell.p99_ms:.1f} ms {cell.cpu_us:,.0f} µs CPU "
                f"{cell.sessions} sessions"
                for name, cell in measured.items()
            )
            print(f"  pass {pass_no + 1} {op} (load {load_average()}): {figures}", flush=True)
            for name, cell in measured.items():
                cells.setdefault((op, name), []).append(cell)
    sessions.close()
    return cells


def report(args: argparse.Namespace, cells: dict[tuple[str, str], list[Cell]]) -> None:
    where = f"{args.clients} clients, {args.processes} processes, PostgreSQL"
    for op, what, unit in (
        ("hold", "drawdown holds", "holds"),
        ("get", "line reads (GET /v1/lines/{id})", "reads"),
    ):
        print(report_row(f"{what}, {where}", unit, cells[op, "HTTP"], cells[op, "in-process"]))
        if (op, "baseline") in cells:
            baseline = cells[op, "baseline"]
            print(report_row(f"  baseline {what}", unit, baseline, cells[op, "in-process"]))
            rates = median_of(cells[op, "HTTP"], "rate") / median_of(baseline, "rate")
            cpu = median_of(cells[op, "HTTP"], "cpu_us") / median_of(baseline, "cpu_us")
            print(f"  this checkout / baseline: {rates:.2f}x req/s, {cpu:.2f}x CPU per request")
    http_rate = median_of(cells["hold", "HTTP"], "rate")
    in_rate = median_of(cells["hold", "in-process"], "rate")
    p99 = median_of(cells["hold", "HTTP"], "p99_ms")
    print(
        f"targets: HTTP / in-process ≥ {TARGET_RATIO}x "
        f"[{'MET' if http_rate / in_rate >= TARGET_RATIO else 'NOT MET'}], "
        f"p99 < {TARGET_P99_MS:.0f} ms [{'MET' if p99 < TARGET_P99_MS else 'NOT MET'}]"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/http_api.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 1
    print(f"load average before: {load_average()} ({os.cpu_count()} CPUs)")
    with postgres_database(args.postgres_url, "creditline_bench_http") as url:
        env = server_env(url)
        lines = open_lines(env, args.clients * LINES_PER_CLIENT)
        folder = Path(tempfile.mkdtemp(prefix="creditline-bench-http-"))
        servers: dict[str, Server] = {}
        try:
            servers["HTTP"] = Server(env, args.processes, folder)
            if args.baseline_src is not None:
                servers["baseline"] = Server(env, args.processes, folder, args.baseline_src)
            cells = measure(args, env, lines, servers)
        finally:
            for server in servers.values():
                server.stop()
            shutil.rmtree(folder, ignore_errors=True)
    report(args, cells)
    print(f"holds in the store match wrk's answers: [OK]; load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
