"""`/metrics` and the logs under `creditline serve --processes 2`, served in production.

Whichever worker answers a scrape, it counts the whole server: every request made (on several
scrapes, each on a new connection), the supervisor's background jobs, and the outbox's backlog
read once from the store, not once per process. A worker killed with requests in hand leaves
its counts in the sums and its requests in progress out of them. The run's metrics directory is
gone when the server stops, and every access log line is JSON with its request's id.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import TEST_CONTACTS, metric
from served import (
    PROCESSES,
    SIGNING_KEY,
    START_SECONDS_MAX,
    free_port,
    headers_of,
    serve_processes,
    wait_until_answering,
)
from sqlalchemy import func, select

from creditline.db.engine import make_engine
from creditline.kernel.actors import Role
from creditline.notices.tables import outbox

# One at a time, beside the rest of the suite: the server's workers load the CPUs.
pytestmark = pytest.mark.xdist_group("benchmarks")

SEEN_SECONDS_MAX = 60.0
LIMIT = "100000.00"
HOLD = "10.00"

# A lender's verifier, for serving in production (which refuses the development one): the
# development verifier's verdicts under the lender's name.
LENDER_VERIFIER = """
from creditline.decisions.verification import DevelopmentVerifier


class LenderVerifier:
    name = "lender"

    def verify(self, kind, evidence, today):
        return DevelopmentVerifier().verify(kind, evidence, today)


def connect():
    return LenderVerifier()
"""
HOLDS = 6
PROBES_MIN = 8
SCRAPES = 6
# Requests held open (headers sent, no body): 16 over two workers all land on one 1 in 32,768.
HANGING = 16
SETTLE_SECONDS_MAX = 60.0


def _production_env(tmp_path: Path, sqlite_template: Path) -> dict[str, str]:
    database = tmp_path / "creditline.db"
    shutil.copy(sqlite_template, database)
    (tmp_path / "lender_verifier.py").write_text(LENDER_VERIFIER)
    env = {
        **os.environ,
        "CREDITLINE_DATABASE_URL": f"sqlite:///{database}",
        "CREDITLINE_ENV": "production",
        "CREDITLINE_JWT_SIGNING_KEY": SIGNING_KEY,
        "CREDITLINE_VERIFIER": "lender_verifier:connect",
        "CREDITLINE_CONTACTS_FILE": str(TEST_CONTACTS),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        "CREDITLINE_DISPATCH": "off",  # the outbox's backlog stays as it is between scrapes
        "CREDITLINE_SWEEP_INTERVAL_SECONDS": "0.2",  # a background job with passes to count
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def _scrape(base_url: str) -> str:
    with httpx.Client(base_url=base_url, timeout=10) as fresh:  # a new connection
        scraped = fresh.get("/metrics")
    assert scraped.status_code == 200, scraped.text
    return scraped.text


def _healthz_count(scraped: str) -> float:
    labels = {"method": "GET", "route": "/healthz", "status": "2xx"}
    return metric(scraped, "creditline_http_request_duration_seconds_count", **labels)


def _half_sent_request(port: int) -> socket.socket:
    """A request whose body never comes: the worker has it in progress until it is closed."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/lines HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


@dataclass
class Made:
    """What the test asked of the server: `/healthz` answers and by whom, the request ids sent."""

    healthz: int = 0
    answered_by: list[int] = field(default_factory=list)
    request_ids: set[str] = field(default_factory=set)

    def probe(self, base_url: str) -> None:
        """`/healthz` on a new connection, with a request id of ours."""
        request_id = f"probe-{len(self.answered_by)}"
        with httpx.Client(base_url=base_url, timeout=10) as fresh:
            answered = fresh.get("/healthz", headers={"X-Request-Id": request_id})
        self.healthz += 1
        self.request_ids.add(request_id)
        self.answered_by.append(int(answered.json()["process"]))


def test_metrics_count_the_whole_server_and_log_request_ids_in_json(
    sqlite_template: Path, tmp_path: Path
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = serve_processes(_production_env(tmp_path, sqlite_template), port, log)
    hanging: list[socket.socket] = []
    try:
        wait_until_answering(server, base_url, log)
        made = Made(healthz=1)  # the one that found the server up
        directory = Path(_logged(log, "this run's metrics gather in ")[0])
        _hold(base_url, made)
        deadline = time.monotonic() + SEEN_SECONDS_MAX
        while len(set(made.answered_by)) < PROCESSES or len(made.answered_by) < PROBES_MIN:
            assert time.monotonic() < deadline, f"only {set(made.answered_by)} answered"
            made.probe(base_url)
        # Every process writes its files there: the two workers and the supervisor.
        pids = {path.stem.rsplit("_", 1)[1] for path in directory.glob("*.db")}
        assert pids >= {str(pid) for pid in {*made.answered_by, server.pid}}
        _scrapes_count_everything(base_url, made, tmp_path / "creditline.db")
        hanging = [_half_sent_request(port) for _ in range(HANGING)]
        _settle(base_url, HANGING + 1)
        _kill_a_worker_in_mid_request(base_url, made, hanging)
    finally:
        for sock in hanging:
            sock.close()
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    assert code == 0, log.read_text()
    assert not directory.exists()  # the run's metrics went with it
    # Production logs: JSON lines; each request's access line names its request id.
    access = [line for line in _json_lines(log) if line["logger"] == "uvicorn.access"]
    assert all(line["request_id"] for line in access)
    assert made.request_ids <= {line["request_id"] for line in access}


def _hold(base_url: str, made: Made) -> None:
    """A line, and HOLDS holds on it, each on a new connection."""
    opened = httpx.post(
        f"{base_url}/v1/lines",
        json={"borrower_id": "b-1", "currency": "CNY", "limit": LIMIT},
        headers=headers_of(Role.AGENT, "agent-1"),
    )
    assert opened.status_code == 201, opened.text
    for n in range(HOLDS):
        with httpx.Client(base_url=base_url, timeout=30) as fresh:
            placed = fresh.post(
                f"/v1/lines/{opened.json()['id']}/drawdowns",
                json={"amount": HOLD, "term_months": 3},
                headers=headers_of(Role.BORROWER, "b-1") | {"X-Request-Id": f"hold-{n}"},
            )
        assert placed.status_code == 201, placed.text
        made.request_ids.add(f"hold-{n}")


def _scrapes_count_everything(base_url: str, made: Made, database: Path) -> None:
    undelivered = _undelivered(f"sqlite:///{database}")
    assert undelivered > 0
    metrics_route = {"method": "GET", "route": "/metrics", "status": "2xx"}
    swept: list[float] = []
    for scrapes_before in range(SCRAPES):
        scraped = _scrape(base_url)
        assert _healthz_count(scraped) == made.healthz
        assert metric(scraped, "creditline_holds_total", result="placed") == HOLDS
        counted = metric(scraped, "creditline_http_request_duration_seconds_count", **metrics_route)
        assert counted == scrapes_before  # a scrape is counted once answered
        assert metric(scraped, "creditline_http_requests_in_progress") == 1  # this one
        # Read from the store at the scrape, by the worker answering: not summed.
        assert metric(scraped, "creditline_outbox_undelivered") == undelivered
        # The sweeper runs in the supervisor, which serves no request.
        job = "creditline_background_job_duration_seconds_count"
        swept.append(metric(scraped, job, job="sweep"))
    assert 0 < swept[0] <= swept[-1]


def _kill_a_worker_in_mid_request(base_url: str, made: Made, hanging: list[socket.socket]) -> None:
    """SIGKILL a worker while both have requests in hand: its counts stay in the sums, its
    requests in progress leave them."""
    workers = set(made.answered_by)
    victim = made.answered_by[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + START_SECONDS_MAX
    while set(made.answered_by) <= workers:  # until the worker started in its place answers
        assert time.monotonic() < deadline, f"{victim} was not replaced"
        try:
            made.probe(base_url)
        except httpx.TransportError:  # the dead worker's socket
            time.sleep(0.2)
    left = sum(not _closed_by_server(sock) for sock in hanging)
    assert 0 < left < HANGING  # both workers had some
    scraped = _scrape(base_url)
    assert metric(scraped, "creditline_http_requests_in_progress") == left + 1
    assert _healthz_count(scraped) == made.healthz  # the dead worker's among them
    assert metric(scraped, "creditline_holds_total", result="placed") == HOLDS


def _settle(base_url: str, in_progress: int) -> None:
    """Scrape until `in_progress` requests are in progress (the workers have read them)."""
    deadline = time.monotonic() + SETTLE_SECONDS_MAX
    while True:
        found = metric(_scrape(base_url), "creditline_http_requests_in_progress")
        if found == in_progress:
            return
        assert time.monotonic() < deadline, f"{found} in progress, not {in_progress}"
        time.sleep(0.2)


def _undelivered(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            query = select(func.count()).where(outbox.c.delivered_at.is_(None))
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def _json_lines(log: Path) -> list[dict[str, Any]]:
    """The log's JSON lines (the command's own greeting on stdout is not one)."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def _logged(log: Path, prefix: str) -> list[str]:
    """What follows `prefix` in the messages logged that start with it."""
    return [
        line["message"].removeprefix(prefix)
        for line in _json_lines(log)
        if line["message"].startswith(prefix)
    ]
