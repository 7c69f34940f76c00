"""What `/metrics` of the whole server costs (`serve --processes`, decision 0026): the request
middleware's own work with the metrics in memory (one process) and in files (prometheus_client's
multiprocess mode), and a scrape of one process's registry against a scrape that reads the
files of several.

Each mode runs in a process of its own, since prometheus_client picks memory or files once,
when it is imported. Passes alternate (memory, then files) and each figure is the median of
`--passes`; the ratio files / memory is the figure to compare between runs on a shared
machine. CPU time (`time.process_time`) is printed beside the rate: it is steadier under load.

    .venv/bin/python bench/metrics_modes.py              # 120,000 requests, 5 passes
    .venv/bin/python bench/metrics_modes.py --smoke      # in seconds (the tests)

It is a report, not a test: it exits 0 whatever the figures, non-zero when a child fails or
a scrape does not count every request the children made.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from creditline.metrics import Metrics

SMOKE = {"requests": 2_400, "passes": 1, "writers": [1, 3]}
ROUTES = 60  # about the API's templates: every one answered, by two status classes
STATUSES = (200, 404)
SCRAPES = 20


class _Route:
    def __init__(self, path: str) -> None:
        self.path = path


async def _answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest app: the route the router would have matched, then a short answer."""
    scope["route"] = scope["matched"]
    await send({"type": "http.response.start", "status": scope["answer"], "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _requests(observe: Any, count: int) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        return None

    routes = [_Route(f"/v1/things{n}/{{thing_id}}") for n in range(ROUTES)]
    for n in range(count):
        scope = {
            "type": "http",
            "method": "GET",
            "headers": [],
            "matched": routes[n % ROUTES],
            "answer": STATUSES[n % len(STATUSES)],
        }
        await observe(scope, receive, send)


def _write(metrics: Metrics, requests: int) -> dict[str, float]:
    """Another process's files: the same series, `requests` counted, as a worker's would be."""
    series = [
        metrics.request_seconds.labels("GET", f"/v1/things{n}/{{thing_id}}", f"{status // 100}xx")
        for n in range(ROUTES)
        for status in STATUSES
    ]
    for n in range(requests):
        series[n % len(series)].observe(0.001)
    return {}


def _child(mode: str, requests: int) -> dict[str, float]:
    """In this process: `requests` through the middleware, then SCRAPES scrapes."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    metrics = Metrics(Path(directory) if directory else None)
    if mode == "write":
        return _write(metrics, requests)
    from creditline.api.observability import Observe  # FastAPI: not for the writers

    observe = Observe(_answer, metrics)
    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(_requests(observe, requests))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scrape_cpu = time.process_time()
    for _ in range(SCRAPES):
        scraped = generate_latest(metrics.registry).decode()
    scrape_cpu = time.process_time() - scrape_cpu
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in scraped.splitlines()
        if line.startswith("creditline_http_request_duration_seconds_count")
    )
    return {
        "per_second": requests / wall,
        "cpu_us": cpu / requests * 1e6,
        "scrape_cpu_ms": scrape_cpu / SCRAPES * 1e3,
        "counted": counted,
    }


def _run_child(mode: str, requests: int, directory: str | None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if directory is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = directory
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--requests", str(requests)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"the {mode} child failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


def _pass(requests: int, writers: int) -> dict[str, dict[str, float]]:
    """One pass: memory, then files with `writers` processes' files written before."""
    memory = _run_child("memory", requests, None)
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as directory:
        for _ in range(writers):
            _run_child("write", requests, directory)
        files = _run_child("files", requests, directory)
    for mode, found, expected in (("memory", memory, 1), ("files", files, writers + 1)):
        if found["counted"] != requests * expected:
            sys.exit(
                f"{mode}: the scrape counted {found['counted']:,.0f} requests, not "
                f"{requests * expected:,}"
            )
    return {"memory": memory, "files": files}


def _report(requests: int, passes: int, writers: list[int]) -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 CPUs)")
    print(f"{requests:,} requests through the middleware per pass, {passes} passes, medians")
    print("| metrics | other processes' files | requests/s | µs CPU / request | scrape ms CPU |")
    print("|---|---|---|---|---|")
    for count in writers:
        runs = [_pass(requests, count) for _ in range(passes)]
        median = {
            mode: {key: statistics.median(run[mode][key] for run in runs) for key in runs[0][mode]}
            for mode in ("memory", "files")
        }
        for mode in ("memory", "files"):
            m = median[mode]
            others = "-" if mode == "memory" else str(count)
            print(
                f"| {mode} | {others} | {m['per_second']:,.0f} | {m['cpu_us']:.1f} | "
                f"{m['scrape_cpu_ms']:.2f} |"
            )
        ratio = median["files"]["cpu_us"] / median["memory"]["cpu_us"]
        scrape_ratio = median["files"]["scrape_cpu_ms"] / median["memory"]["scrape_cpu_ms"]
        print(
            f"files / memory with {count} other processes' files: {ratio:.2f}× CPU per "
            f"request, {scrape_ratio:.1f}× CPU per scrape"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=120_000)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument(
        "--writers",
        type=int,
        nargs="+",
        default=[3, 9],
        help="other processes whose files a scrape reads besides its own (2 workers and "
        "the supervisor: 2; more after restarts)",
    )
    parser.add_argument("--smoke", action="store_true", help="a run of seconds (the tests)")
    parser.add_argument("--child", choices=["memory", "files", "write"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.requests)))
        return
    if args.smoke:
        args.requests, args.passes, args.writers = (
            SMOKE["requests"],
            SMOKE["passes"],
            SMOKE["writers"],
        )
    _report(args.requests, args.passes, args.writers)


if __name__ == "__main__":
    main()
