"""Faults the service must come through with its books intact.

- PostgreSQL stops in the middle of a load and comes back three seconds later. It is an
  instance this test starts itself (`initdb` and `pg_ctl` on a free loopback port), never the
  server the other tests share. Clients see `503` problem documents with `Retry-After` while it
  is away; their retries under the same idempotency keys then succeed, nothing is lost or made
  twice, and the reconciler finds nothing.
- SQLite runs out of room (`max_page_count`): the change that does not fit is refused with
  `503 store_full`, nothing of it is kept, and the file passes `PRAGMA integrity_check`.
- The clock jumps back an hour: the journal keeps the order of the writes, and its chain and
  the reconciler still agree.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import TEST_CONTACTS, headers, suite_settings
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text

from creditline.api.app import create_app
from creditline.bootstrap import Container, build
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.ledger.tables import drawdowns
from creditline.loans.tables import repayments

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CLIENTS = 4
ACKNOWLEDGED_BEFORE_STOP = 40
ACKNOWLEDGED_AFTER_START = 40
DOWN_SECONDS = 3.0
TEST_SECONDS_MAX = 120.0
ADMIN = Actor("admin-1", Role.ADMIN)
_ = TEST_CONTACTS  # the suite's settings name it


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pg_binary(name: str) -> str:
    found = PG_BIN / name if (PG_BIN / name).exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is needed to start a PostgreSQL of the test's own", pytrace=False)
    return str(found)


class OwnPostgres:
    """A PostgreSQL cluster of this test's own, on a free loopback port (run as the postgres
    user when the test runs as root: PostgreSQL refuses root)."""

    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.data = root / "data"
        self.log = root / "server.log"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(root, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, binary: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, _pg_binary(binary), *args], check=True, capture_output=True, timeout=60
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop it at once, as a crash or a failover would (open connections are cut)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    # Not under pytest's tmp_path: its parents are closed to the postgres user.
    root = Path(tempfile.mkdtemp(prefix="creditline-faults-pg-"))
    server = OwnPostgres(root)
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        server.stop()
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class Load:
    """What the clients saw, shared between their threads."""

    base_url: str
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after_missing: int = 0
    holds: set[str] = field(default_factory=set)  # drawdown ids acknowledged
    repaid: set[str] = field(default_factory=set)  # repayment ids acknowledged
    failures: list[str] = field(default_factory=list)


def _send(client: httpx.Client, load: Load, path: str, body: object, key: str) -> dict:
    """POST until a 2xx answer, under one idempotency key: a 503 or no answer is retried."""
    while time.monotonic() < load.deadline:
        try:
            answer = client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        with load.lock:
            load.statuses[answer.status_code] += 1
        if answer.status_code == 503:
            if "retry-after" not in answer.headers:
                with load.lock:
                    load.retry_after_missing += 1
            time.sleep(float(answer.headers.get("retry-after", "1")) / 4)
            continue
        if answer.status_code >= 300:
            raise AssertionError(f"{path}: {answer.status_code} {answer.text}")
        with load.lock:
            load.acknowledged += 1
        return dict(answer.json())
    raise AssertionError(f"{path}: no answer before the deadline")


def _read(client: httpx.Client, load: Load, path: str) -> None:
    """A GET, counted: a store that is away is a 503 here too, never a 500."""
    try:
        answer = client.get(path)
    except httpx.TransportError:
        return
    with load.lock:
        load.statuses[answer.status_code] += 1
        if answer.status_code == 503 and "retry-after" not in answer.headers:
            load.retry_after_missing += 1


def _client_loop(load: Load, token: str, line_id: str, number: int, stop: threading.Event) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=load.base_url, headers=auth, timeout=10) as client:
        i = 0
        try:
            while not stop.is_set():
                i += 1
                hold = _send(
                    client,
                    load,
                    f"/v1/lines/{line_id}/drawdowns",
                    {"amount": "100.00", "term_months": 3},
                    f"c{number}-h{i}",
                )
                posted = _send(
                    client, load, f"/v1/drawdowns/{hold['id']}/post", None, f"c{number}-p{i}"
                )
                loan_id = posted["loan_id"]
                paid = _send(
                    client,
                    load,
                    f"/v1/loans/{loan_id}/repayments",
                    {"amount": "40.00"},
                    f"c{number}-r{i}",
                )
                with load.lock:
                    load.holds.add(hold["id"])
                    load.repaid.add(paid["id"])
                _read(client, load, f"/v1/lines/{line_id}")
        except AssertionError as failure:
            with load.lock:
                load.failures.append(str(failure))


def _serve(container: Container) -> tuple[uvicorn.Server, str]:
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(container), log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def _wait_for(load: Load, count: int) -> None:
    while load.acknowledged < count:
        assert time.monotonic() < load.deadline, f"only {load.acknowledged} answers"
        assert not load.failures, load.failures
        time.sleep(0.05)


def test_postgresql_stopping_mid_load_loses_nothing_and_doubles_nothing(
    own_postgres: OwnPostgres, clock: FixedClock
) -> None:
    container = build(suite_settings(own_postgres.url), clock)
    server, base_url = _serve(container)
    try:
        load = Load(base_url, time.monotonic() + TEST_SECONDS_MAX)
        stop = threading.Event()
        threads = []
        for n in range(CLIENTS):
            borrower = f"borrower-{n}"
            opened = container.ledger.open_line(ADMIN, f"o{n}", borrower, "CNY", "100000.00")
            token = headers(container, Role.BORROWER, borrower)["Authorization"].split()[1]
            thread = threading.Thread(
                target=_client_loop, args=(load, token, opened.document["id"], n, stop)
            )
            thread.start()
            threads.append(thread)
        _wait_for(load, ACKNOWLEDGED_BEFORE_STOP)
        own_postgres.stop()
        time.sleep(DOWN_SECONDS)
        own_postgres.start()
        _wait_for(load, load.acknowledged + ACKNOWLEDGED_AFTER_START)
        stop.set()
        for thread in threads:
            thread.join(timeout=TEST_SECONDS_MAX)
        assert not load.failures, load.failures
        # While it was away, clients were told to come back later, never that it broke.
        assert load.statuses[503] > 0, load.statuses
        assert load.retry_after_missing == 0
        assert load.statuses[500] == 0, load.statuses
        with container.db.engine.connect() as connection:
            stored_holds = set(connection.execute(select(drawdowns.c.id)).scalars())
            stored_repayments = connection.execute(
                select(func.count()).select_from(repayments)
            ).scalar_one()
        # Every acknowledged effect is there once; a retried request made nothing new.
        assert load.holds <= stored_holds
        assert len(stored_holds) - len(load.holds) <= CLIENTS  # the last round, unfinished
        assert stored_repayments - len(load.repaid) <= CLIENTS
        assert container.reconciler.run() == []
    finally:
        server.should_exit = True
        container.close()


def _pages(container: Container) -> int:
    with container.db.engine.connect() as connection:
        return int(connection.execute(text("PRAGMA page_count")).scalar_one())


def test_a_full_sqlite_store_refuses_the_change_and_keeps_its_books(
    tmp_path: Path, clock: FixedClock
) -> None:
    container = build(suite_settings(f"sqlite:///{tmp_path / 'small.db'}"), clock)
    try:
        line_id = container.ledger.open_line(ADMIN, "o", "borrower-1", "CNY", "100000.00")
        room = _pages(container) + 8  # a few pages of room, then full

        @event.listens_for(container.db.engine, "connect")
        def _small(dbapi_connection: object, _: object) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {room}")  # type: ignore[attr-defined]

        container.db.engine.dispose()
        answers: Counter[int] = Counter()
        with TestClient(create_app(container), raise_server_exceptions=False) as client:
            path = f"/v1/lines/{line_id.document['id']}/drawdowns"
            for _ in range(2_000):
                answer = client.post(
                    path,
                    json={"amount": "10.00", "term_months": 3},
                    headers=headers(container, Role.BORROWER, "borrower-1"),
                )
                answers[answer.status_code] += 1
                if answer.status_code != 201:
                    break
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "store_full"
        assert "retry-after" in answer.headers
        with container.db.engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
            held = connection.execute(select(func.count()).select_from(drawdowns)).scalar_one()
        assert held == answers[201]  # the refused hold left nothing
        assert container.reconciler.run() == []
    finally:
        container.close()


def test_a_clock_jumping_back_keeps_the_journal_in_the_order_of_its_writes(
    container: Container, clock: FixedClock
) -> None:
    borrower = Actor("borrower-1", Role.BORROWER)
    line_id = container.ledger.open_line(ADMIN, "o", borrower.subject, "CNY", "10000.00")
    line = str(line_id.document["id"])
    first = container.ledger.place_hold(borrower, "h1", line, "100.00", 3).document
    clock.set(clock.now() - timedelta(hours=1))  # NTP steps the clock back an hour
    second = container.ledger.place_hold(borrower, "h2", line, "200.00", 3).document
    entries = container.ledger.journal(ADMIN, line)["entries"]
    assert [entry["seq"] for entry in entries] == [1, 2, 3, 4]  # the opening, its grant, holds
    assert [entry["drawdown_id"] for entry in entries[2:]] == [first["id"], second["id"]]
    assert entries[3]["at"] < entries[2]["at"]  # the times tell of the jump; the order does not
    assert [entry["prev_hash"] for entry in entries[1:]] == [e["hash"] for e in entries[:-1]]
    assert container.reconciler.run() == []
