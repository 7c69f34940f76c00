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
runs on a shared machine (DESIGN.md §7). The server delivers no notices meanwhile
(CREDITLINE_DISPATCH=off): the in-process path does not either.

    .venv/bin/python bench/http_api.py                 # 2 processes, 32 clients, 10 s, 3 passes
    .venv/bin/python bench/http_api.py --processes 1 --seconds 5
    .venv/bin/python bench/http_api.py --smoke         # in seconds (the tests)

It is a report, not a test: it exits 0 whatever the figures, non-zero on a broken setup: wrk
missing, the server not starting, any request failing, or the holds in the database not the
ones wrk was answered.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from databases import add_postgres_url, postgres_database
from sqlalchemy import func, select
from uncapped import uncapped_products

from creditline.api.auth import issue_token
from creditline.bootstrap import build
from creditline.config import DEFAULT_KEY_ID, SigningKey, load_settings
from creditline.kernel.actors import Actor, Role
from creditline.ledger.tables import drawdowns

CLI = Path(sys.executable).parent / "creditline"
SIGNING_KEY = "bench-http-signing-key-of-at-least-32-bytes"
CURRENCY = "CNY"
LIMIT = "1000000000000.00"  # no run comes near it
AMOUNT = "1.00"
TERM_MONTHS = 12
LINES_PER_CLIENT = 4
WARMUP_SECONDS = 2  # per server process: connections opened, statements prepared
START_SECONDS_MAX = 180.0  # two workers importing on a loaded two-core machine
ACTOR = Actor("bench", Role.SERVICE)
SMOKE = {"clients": 4, "seconds": 1, "passes": 1, "processes": 2}
TARGET_RATIO = 0.6
TARGET_P99_MS = 50.0

# wrk's script: each thread its own token and its share of the lines, each request its own
# key; at the end one JSON line with the figures wrk measured.
WRK_SCRIPT = """
local lines = {%(lines)s}
local tokens = {%(tokens)s}
local threads, run, method, body = %(threads)d, "%(run)s", "%(method)s", '%(body)s'
local counter, headers, made = 0, {}, 0
-- `tid` is each thread's global, set by setup (a local would hide it).
function setup(thread)
  thread:set("tid", made)
  made = made + 1
end
function init(args)
  headers["Authorization"] = "Bearer " .. tokens[tid + 1]
  headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local line = lines[((counter * threads) + tid) %% #lines + 1]
  if method == "GET" then
    return wrk.format("GET", "/v1/lines/" .. line, headers)
  end
  headers["Idempotency-Key"] = run .. "-" .. tid .. "-" .. counter
  return wrk.format("POST", "/v1/lines/" .. line .. "/drawdowns", headers, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "seconds": %%.6f, "p50_ms": %%.3f, "p99_ms": %%.3f, '
    .. '"status_errors": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Cell:
    """One measured run: requests (or calls) per second and latency percentiles."""

    rate: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    for thread in threads:
        thread.join()
    container.close()
    results.put([x for client in latencies for x in client])


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
    latencies = sorted(x for _ in workers for x in results.get(timeout=seconds + 60))
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise SystemExit(f"an in-process worker failed (exit {worker.exitcode})")
    return Cell(len(latencies) / seconds, *percentiles_ms(latencies))


def percentiles_ms(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 of sorted latencies in seconds, in milliseconds (nearest rank)."""
    p50 = latencies[max(0, round(0.50 * len(latencies)) - 1)]
    p99 = latencies[max(0, round(0.99 * len(latencies)) - 1)]
    return p50 * 1e3, p99 * 1e3


# --------------------------------------------------------------------------------------------
# The HTTP path: `creditline serve --processes N` and wrk.
# --------------------------------------------------------------------------------------------
class Server:
    """`creditline serve --processes N` on a free loopback port."""

    def __init__(self, env: dict[str, str], processes: int, log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [str(CLI), "serve", "--port", str(self.port), "--processes", str(processes)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_SECONDS_MAX
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"creditline serve exited {self.process.returncode}; see {log}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).is_success:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"creditline serve did not answer in {START_SECONDS_MAX:.0f} s; see {log}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def wrk(
    server: Server, op: str, lines: list[str], clients: int, seconds: float, folder: Path
) -> dict[str, Any]:
    """wrk's figures for `seconds` of `op` at `clients` connections."""
    threads = min(2, clients)
    now = datetime.now(UTC)
    key = SigningKey(DEFAULT_KEY_ID, SIGNING_KEY)
    tokens = [issue_token(key, Role.SERVICE, f"bench-{t}", now) for t in range(threads)]
    script = folder / f"{op}.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "lines": ", ".join(f'"{line}"' for line in lines),
            "tokens": ", ".join(f'"{token}"' for token in tokens),
            "threads": threads,
            "run": uuid.uuid4().hex[:12],
            "method": "POST" if op == "hold" else "GET",
            "body": json.dumps({"amount": AMOUNT, "term_months": TERM_MONTHS}),
        },
        encoding="utf-8",
    )
    command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s"]
    command += ["-s", str(script)]  # a slow answer is a latency, not a failure
    done = subprocess.run(
        [*command, server.base_url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["status_errors"] or figures["socket_errors"]:
        raise SystemExit(f"wrk saw failed requests: {figures}\n{done.stdout}")
    return figures


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
    figures = wrk(server, op, lines, clients, seconds, folder)
    if op == "hold":
        time.sleep(0.5)  # the requests in flight when wrk stopped are answered
        made = holds_in(env) - before
        # wrk counts the answers it read; up to one request a connection was still in flight.
        if not figures["requests"] <= made <= figures["requests"] + clients:
            raise SystemExit(f"wrk was answered {figures['requests']} holds, the store has {made}")
    return Cell(figures["requests"] / figures["seconds"], figures["p50_ms"], figures["p99_ms"])


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report_row(what: str, unit: str, http: list[Cell], inproc: list[Cell]) -> str:
    def med(cells: list[Cell], attr: str) -> float:
        return statistics.median(getattr(cell, attr) for cell in cells)

    ratio = med(http, "rate") / med(inproc, "rate")
    return (
        f"{what}: HTTP {med(http, 'rate'):,.0f} req/s, p50 {med(http, 'p50_ms'):.1f} ms, "
        f"p99 {med(http, 'p99_ms'):.1f} ms; in-process {med(inproc, 'rate'):,.0f} {unit}/s, "
        f"p50 {med(inproc, 'p50_ms'):.1f} ms, p99 {med(inproc, 'p99_ms'):.1f} ms; "
        f"HTTP / in-process = {ratio:.2f}x"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="serve's (and in-process)")
    parser.add_argument("--clients", type=int, default=32, help="connections; in-process threads")
    parser.add_argument("--seconds", type=int, default=10, help="per cell (wrk: whole seconds)")
    parser.add_argument("--passes", type=int, default=3, help="figures are the median of passes")
    parser.add_argument("--smoke", action="store_true", help="a run of seconds (the tests)")
    add_postgres_url(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    if args.clients < args.processes or args.processes < 1 or args.seconds < 1:
        parser.error("need 1 ≤ processes ≤ clients and whole seconds ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/http_api.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 1
    print(f"load average before: {load_average()} ({os.cpu_count()} CPUs)")
    with postgres_database(args.postgres_url, "creditline_bench_http") as url:
        env = server_env(url)
        lines = open_lines(env, args.clients * LINES_PER_CLIENT)
        slots = [lines[c :: args.clients] for c in range(args.clients)]
        folder = Path(tempfile.mkdtemp(prefix="creditline-bench-http-"))
        server = Server(env, args.processes, folder / "serve.log")
        try:
            for op in ("hold", "get"):  # warm every server process: connections, statements
                wrk(server, op, lines, args.clients, WARMUP_SECONDS, folder)
            cells: dict[tuple[str, str], list[Cell]] = {}
            for pass_no in range(args.passes):
                for op in ("hold", "get"):
                    inproc = in_process_cell(env, op, slots, args.processes, args.seconds)
                    http = http_cell(server, env, op, lines, args.clients, args.seconds, folder)
                    cells.setdefault((op, "in-process"), []).append(inproc)
                    cells.setdefault((op, "http"), []).append(http)
                    print(
                        f"  pass {pass_no + 1} {op}: HTTP {http.rate:,.0f}/s "
                        f"p99 {http.p99_ms:.1f} ms, in-process {inproc.rate:,.0f}/s",
                        flush=True,
                    )
        finally:
            server.stop()
            shutil.rmtree(folder, ignore_errors=True)
    where = f"{args.clients} clients, {args.processes} processes, PostgreSQL"
    holds = report_row(
        f"drawdown holds, {where}", "holds", cells["hold", "http"], cells["hold", "in-process"]
    )
    reads = report_row(
        f"line reads (GET /v1/lines/{{id}}), {where}",
        "reads",
        cells["get", "http"],
        cells["get", "in-process"],
    )
    print(holds)
    print(reads)
    http_rate = statistics.median(cell.rate for cell in cells["hold", "http"])
    in_rate = statistics.median(cell.rate for cell in cells["hold", "in-process"])
    p99 = statistics.median(cell.p99_ms for cell in cells["hold", "http"])
    print(
        f"targets: HTTP / in-process ≥ {TARGET_RATIO}x "
        f"[{'MET' if http_rate / in_rate >= TARGET_RATIO else 'NOT MET'}], "
        f"p99 < {TARGET_P99_MS:.0f} ms [{'MET' if p99 < TARGET_P99_MS else 'NOT MET'}]"
    )
    print(f"holds in the store match wrk's answers: [OK]; load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
