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
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import Run
from served import (
    PROCESSES,
    SIGNING_KEY,
    free_port,
    headers_of,
    process_answering,
    serve_processes,
    wait_until_answering,
)
from sqlalchemy import func, select

from creditline.db.engine import make_engine
from creditline.kernel.actors import Role
from creditline.ledger.tables import drawdowns
from creditline.notices.tables import outbox

# One at a time, beside the rest of the suite: the server's workers load the CPUs.
pytestmark = pytest.mark.xdist_group("benchmarks")

CLIENT_THREADS = 4
HOLDS_PER_THREAD = 10
SEEN_SECONDS_MAX = 60.0
LIMIT = "100000.00"
HOLD = "10.00"
HOLD_MINOR = 1_000


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
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CREDITLINE_DATABASE_URL": database_url,
        "CREDITLINE_JWT_SIGNING_KEY": SIGNING_KEY,
        "CREDITLINE_DISPATCH_INTERVAL_SECONDS": "0.2",
    }
    log = tmp_path / "serve.log"
    server = serve_processes(env, port, log)
    try:
        wait_until_answering(server, base_url, log)
        opened = httpx.post(
            f"{base_url}/v1/lines",
            json={"borrower_id": "b-1", "currency": "CNY", "limit": LIMIT},
            headers=headers_of(Role.AGENT, "agent-1"),
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
                        headers=headers_of(Role.BORROWER, "b-1"),
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
            seen.add(process_answering(base_url))
        for client in clients:
            client.join()
        assert len(seen) == PROCESSES, f"only {seen} answered"
        assert server.pid not in seen  # the workers answer, not the supervisor
        assert len(answered) == CLIENT_THREADS * HOLDS_PER_THREAD

        line = httpx.get(f"{base_url}/v1/lines/{line_id}", headers=headers_of(Role.AGENT, "a-1"))
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
