"""`creditline serve --processes N`: several worker processes on one port, on both stores.

The server runs as a user runs it, as a subprocess on a free loopback port. Client threads send
holds over fresh connections while the test asks `/healthz` which process answers, until both
workers have; every hold answered is in the store once, the line's balance is their sum, the
notices are delivered (by the dispatcher, which runs in the supervisor only), `creditline reconcile`
finds nothing, and SIGTERM stops the supervisor and its workers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import Run
from sqlalchemy import func, select

from creditline.api.auth import issue_token
from creditline.config import DEFAULT_KEY_ID, SigningKey
from creditline.db.engine import make_engine
from creditline.kernel.actors import Role
from creditline.kernel.ids import new_id
from creditline.ledger.tables import drawdowns
from creditline.notices.tables import outbox

# One at a time, beside the rest of the suite: the server's workers load the CPUs.
pytestmark = pytest.mark.xdist_group("benchmarks")

CLI = Path(sys.executable).parent / "creditline"
SIGNING_KEY = "serve-processes-test-signing-key-of-40-chars"
PROCESSES = 2
CLIENT_THREADS = 4
HOLDS_PER_THREAD = 10
START_SECONDS_MAX = 180.0  # two workers importing on a loaded two-core machine
SEEN_SECONDS_MAX = 60.0
LIMIT = "100000.00"
HOLD = "10.00"
HOLD_MINOR = 1_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _headers(role: Role, subject: str) -> dict[str, str]:
    token = issue_token(SigningKey(DEFAULT_KEY_ID, SIGNING_KEY), role, subject, datetime.now(UTC))
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": new_id()}


def _process_answering(base_url: str) -> int:
    """The pid of the worker that answers `/healthz` on a new connection."""
    with httpx.Client(base_url=base_url, timeout=10) as fresh:
        return int(fresh.get("/healthz").json()["process"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("processes", ["0", "65", "two"])
def test_serve_refuses_a_bad_number_of_processes(creditline: Run, processes: str) -> None:
    done = creditline("serve", "--processes", processes)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--processes" in done.stderr


def test_two_worker_processes_serve_the_port_and_stop_together(
    database_url: str, creditline: Run, tmp_path: Path
) -> None:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CREDITLINE_DATABASE_URL": database_url,
        "CREDITLINE_JWT_SIGNING_KEY": SIGNING_KEY,
        "CREDITLINE_DISPATCH_INTERVAL_SECONDS": "0.2",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(CLI), "serve", "--port", str(port), "--processes", str(PROCESSES)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + START_SECONDS_MAX
        while True:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                _process_answering(base_url)
                break
            except httpx.TransportError:
                time.sleep(0.2)

        opened = httpx.post(
            f"{base_url}/v1/lines",
            json={"borrower_id": "b-1", "currency": "CNY", "limit": LIMIT},
            headers=_headers(Role.AGENT, "agent-1"),
        )
        assert opened.status_code == 201, opened.text
        line_id = opened.json()["id"]

        answered: list[int] = []
        lock = threading.Lock()

        def holds() -> None:
            for _ in range(HOLDS_PER_THREAD):
                with httpx.Client(base_url=base_url, timeout=30) as fresh:  # a new connection
                    made = fresh.post(
                        f"/v1/lines/{line_id}/drawdowns",
                        json={"amount": HOLD, "term_months": 3},
                        headers=_headers(Role.BORROWER, "b-1"),
                    )
                assert made.status_code == 201, made.text
                with lock:
                    answered.append(made.status_code)

        clients = [threading.Thread(target=holds) for _ in range(CLIENT_THREADS)]
        for client in clients:
            client.start()
        seen: set[int] = set()
        deadline = time.monotonic() + SEEN_SECONDS_MAX
        while len(seen) < PROCESSES and time.monotonic() < deadline:
            seen.add(_process_answering(base_url))
        for client in clients:
            client.join()
        assert len(seen) == PROCESSES, f"only {seen} answered"
        assert server.pid not in seen  # the workers answer, not the supervisor
        assert len(answered) == CLIENT_THREADS * HOLDS_PER_THREAD

        line = httpx.get(f"{base_url}/v1/lines/{line_id}", headers=_headers(Role.AGENT, "a-1"))
        held_minor = HOLD_MINOR * len(answered)
        assert line.json()["held"] == f"{held_minor // 100}.00", line.json()

        deadline = time.monotonic() + SEEN_SECONDS_MAX
        engine = make_engine(database_url)
        try:
            while True:  # the supervisor's dispatcher delivers the notices, each once
                with engine.connect() as connection:
                    undelivered = connection.execute(
                        select(func.count()).where(outbox.c.delivered_at.is_(None))
                    ).scalar()
                    holds_stored = connection.execute(
                        select(func.count()).select_from(drawdowns)
                    ).scalar()
                if undelivered == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            engine.dispose()
        assert undelivered == 0
        assert holds_stored == len(answered)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    assert code == 0, log.read_text()
    assert not any(_alive(pid) for pid in seen), "a worker outlived its supervisor"
    reconciled = creditline("reconcile", database_url=database_url)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
