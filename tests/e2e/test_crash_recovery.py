"""`kill -9` the server in the middle of a busy run: nothing is lost, nothing happens twice.

`creditline serve` runs as a subprocess on this worker's PostgreSQL database. Eight client
threads, each a borrower with its own line, send a stream of holds, posts, voids and repayments,
every request under a fixed idempotency key, and retry a request that got no answer (connection
error, timeout, 5xx) a few times with the same key. Mid-run the server is killed with SIGKILL,
twice, and restarted each time. After the run every request that still has no answer is sent
again, with its key, until it has one.

Then the database must hold exactly the acknowledged effects, once each: the drawdowns, loans and
repayments the answers name and no others, line balances equal to the sum of the answers,
one journal entry, one notice and one idempotency key per command, and `creditline reconcile`
finds nothing.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from creditline.api.auth import issue_token
from creditline.config import DEFAULT_KEY_ID, SigningKey
from creditline.db.commands import idempotency_keys
from creditline.db.engine import normalise_url
from creditline.db.metadata import metadata
from creditline.kernel.actors import Role
from creditline.kernel.money import format_minor
from creditline.ledger.tables import drawdowns, journal, lines
from creditline.loans.tables import loans
from creditline.loans.tables import repayments as repayments_table
from creditline.notices.tables import outbox

CLI = Path(sys.executable).parent / "creditline"
SIGNING_KEY = "crash-recovery-test-signing-key-of-48-characters"
CLIENT_THREADS = 8
KILLS = 2
ACKNOWLEDGED_BETWEEN_KILLS = 30  # answered commands before each kill, and after the last restart
ITERATIONS_PER_THREAD_MAX = 80
ATTEMPTS_IN_RUN_MAX = 8  # then the request is left for the re-send after the run
RETRY_PAUSE_SECONDS = 0.1  # times the attempt number, up to RETRY_PAUSE_SECONDS_MAX
RETRY_PAUSE_SECONDS_MAX = 0.5
REQUEST_TIMEOUT_SECONDS = 5.0
START_SECONDS_MAX = 20.0
TEST_SECONDS_MAX = 85.0
LINE_LIMIT_MINOR = 100_000_000
CURRENCY = "CNY"


@dataclass
class Command:
    """One request with its fixed key, and the answer it finally got (None: no answer yet)."""

    kind: str  # hold, post, void or repay
    key: str
    path: str
    body: dict[str, Any] | None
    status: int | None = None
    document: dict[str, Any] | None = None
    replayed: bool = False
    attempts: int = 0


@dataclass
class Run:
    """What the clients did and saw, shared between threads under `lock`."""

    base_url: str
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    acknowledged: int = 0
    transport_errors: int = 0
    server_errors: int = 0
    commands: dict[int, list[Command]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    restart_seconds: list[float] = field(default_factory=list)


class Server:
    """`creditline serve` as a subprocess that can be killed and started again."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path) -> None:
        self.port = port
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, deadline: float) -> None:
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {self.starts} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_healthy(min(deadline, time.monotonic() + START_SECONDS_MAX))

    def _wait_healthy(self, deadline: float) -> None:
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"server not healthy in time:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL, to this process only; no chance to finish or roll back anything."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _truncate(engine: Engine) -> None:
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names}"))


def _bearer(role: Role, subject: str) -> dict[str, str]:
    token = issue_token(SigningKey(DEFAULT_KEY_ID, SIGNING_KEY), role, subject, datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


def _money(minor: int) -> str:
    return format_minor(minor, CURRENCY)


def _send(
    client: httpx.Client, run: Run, command: Command, headers: dict[str, str], attempts_max: int
) -> bool:
    """Send until answered (2xx or 4xx), at most `attempts_max` times; True when answered."""
    for attempt in range(1, attempts_max + 1):
        pause = min(RETRY_PAUSE_SECONDS * attempt, RETRY_PAUSE_SECONDS_MAX)
        if time.monotonic() > run.deadline:
            return False
        command.attempts += 1
        try:
            response = client.post(
                command.path,
                json=command.body,
                headers={**headers, "Idempotency-Key": command.key},
            )
        except httpx.TransportError:
            with run.lock:
                run.transport_errors += 1
            time.sleep(pause)
            continue
        if response.status_code >= 500:
            with run.lock:
                run.server_errors += 1
            time.sleep(pause)
            continue
        command.status = response.status_code
        command.document = response.json()
        command.replayed = response.headers.get("Idempotent-Replayed") == "true"
        with run.lock:
            run.acknowledged += 1
        return True
    return False


class Borrower:
    """One client thread: a stream of commands on its own line, each under a fixed key."""

    def __init__(self, run: Run, number: int, line_id: str) -> None:
        self.run = run
        self.number = number
        self.line_id = line_id
        self.subject = f"crash-borrower-{number}"
        self.headers = _bearer(Role.BORROWER, self.subject)
        self.commands: list[Command] = []
        run.commands[number] = self.commands

    def __call__(self) -> None:
        with httpx.Client(base_url=self.run.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
            try:
                for iteration in range(ITERATIONS_PER_THREAD_MAX):
                    if self.run.stop.is_set():
                        return
                    self._iteration(client, iteration)
            except Exception as exc:  # reported to the main thread and failed there
                with self.run.lock:
                    self.run.failures.append(f"borrower {self.number}: {exc!r}")

    def _command(self, kind: str, iteration: int, path: str, body: Any) -> Command:
        key = f"crash-{self.number}-{iteration}-{kind}"
        command = Command(kind, key, path, body)
        self.commands.append(command)
        return command

    def _answered(self, client: httpx.Client, command: Command) -> bool:
        if not _send(client, self.run, command, self.headers, ATTEMPTS_IN_RUN_MAX):
            return False  # left for the re-send after the run; this iteration stops here
        if command.status not in (200, 201):
            raise AssertionError(f"{command.key}: {command.status} {command.document}")
        return True

    def _iteration(self, client: httpx.Client, i: int) -> None:
        """Hold, then post all and repay all / post half and repay a third / void."""
        amount_minor = 10_000 + 37 * i + self.number
        hold = self._command(
            "hold",
            i,
            f"/v1/lines/{self.line_id}/drawdowns",
            {"amount": _money(amount_minor), "term_months": 1 + i % 36},
        )
        if not self._answered(client, hold):
            return
        assert hold.document is not None
        drawdown_id = hold.document["id"]
        if i % 3 == 2:
            void = self._command("void", i, f"/v1/drawdowns/{drawdown_id}/void", None)
            self._answered(client, void)
            return
        posted_minor = amount_minor if i % 3 == 0 else amount_minor // 2
        post_body = None if i % 3 == 0 else {"amount": _money(posted_minor)}
        post = self._command("post", i, f"/v1/drawdowns/{drawdown_id}/post", post_body)
        if not self._answered(client, post):
            return
        assert post.document is not None
        repaid_minor = posted_minor if i % 3 == 0 else posted_minor // 3
        repay = self._command(
            "repay",
            i,
            f"/v1/loans/{post.document['loan_id']}/repayments",
            {"amount": _money(repaid_minor)},
        )
        self._answered(client, repay)


@pytest.fixture
def crash_database(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(normalise_url(postgres_url))
    _truncate(engine)
    yield engine
    _truncate(engine)
    engine.dispose()


def _open_lines(base_url: str, run: Run) -> list[str]:
    operator = _bearer(Role.SERVICE, "crash-test")
    line_ids = []
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        for number in range(CLIENT_THREADS):
            command = Command(
                "open",
                f"crash-open-{number}",
                "/v1/lines",
                {
                    "borrower_id": f"crash-borrower-{number}",
                    "currency": CURRENCY,
                    "limit": _money(LINE_LIMIT_MINOR),
                },
            )
            assert _send(client, run, command, operator, 20), "could not open the lines"
            assert command.status == 201 and command.document is not None, command
            line_ids.append(command.document["id"])
    return line_ids


def _wait_for_acknowledged(run: Run, target: int, threads: list[threading.Thread]) -> None:
    while time.monotonic() < run.deadline:
        with run.lock:
            if run.acknowledged >= target:
                return
            assert not run.failures, run.failures
        assert any(t.is_alive() for t in threads), "the clients finished before the kills"
        time.sleep(0.01)
    pytest.fail(f"only {run.acknowledged} of {target} commands answered in time")


def _resend_unanswered(run: Run) -> int:
    """Send every command that never got an answer again, with its key, until it gets one."""
    unanswered = [
        (number, c) for number, cs in run.commands.items() for c in cs if c.status is None
    ]
    with httpx.Client(base_url=run.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        for number, command in unanswered:
            headers = _bearer(Role.BORROWER, f"crash-borrower-{number}")
            assert _send(client, run, command, headers, 50), f"{command.key}: no answer"
            assert command.status in (200, 201), (command.key, command.status, command.document)
    return len(unanswered)


def test_kill_9_mid_run_loses_nothing_and_applies_nothing_twice(
    crash_database: Engine, tmp_path: Path
) -> None:
    started = time.monotonic()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITLINE_")}
    env |= {
        "CREDITLINE_DATABASE_URL": crash_database.url.render_as_string(hide_password=False),
        "CREDITLINE_ENV": "development",
        "CREDITLINE_JWT_SIGNING_KEY": SIGNING_KEY,
        "CREDITLINE_SWEEP_INTERVAL_SECONDS": "0.2",
        # Interest-free loans: a repayment of X repays X, which the test's arithmetic needs.
        "CREDITLINE_PRODUCTS_FILE": os.environ["CREDITLINE_PRODUCTS_FILE"],
        # Its drawdowns are fast and many: reviews after each would freeze lines for velocity.
        "CREDITLINE_REVIEW_TRIGGERS": "off",
    }
    server = Server(port, env, tmp_path / "server.log")
    run = Run(f"http://127.0.0.1:{port}", started + TEST_SECONDS_MAX - 15)
    threads: list[threading.Thread] = []
    try:
        server.start(run.deadline)
        line_ids = _open_lines(run.base_url, run)
        threads = [
            threading.Thread(target=Borrower(run, n, line_id), name=f"borrower-{n}")
            for n, line_id in enumerate(line_ids)
        ]
        for thread in threads:
            thread.start()
        target = run.acknowledged + ACKNOWLEDGED_BETWEEN_KILLS
        for _ in range(KILLS):
            _wait_for_acknowledged(run, target, threads)
            errors_before = run.transport_errors
            server.kill()
            time.sleep(0.3)  # the clients meet a dead port for a while
            restarted = time.monotonic()
            server.start(run.deadline)
            run.restart_seconds.append(time.monotonic() - restarted)
            assert run.transport_errors > errors_before, "no client noticed the kill"
            target = run.acknowledged + ACKNOWLEDGED_BETWEEN_KILLS
        _wait_for_acknowledged(run, target, threads)  # progress after the last restart
        run.stop.set()
        for thread in threads:
            thread.join(max(0.1, run.deadline - time.monotonic()))
            assert not thread.is_alive(), f"{thread.name} did not finish in time"
        assert not run.failures, run.failures
        run.deadline = started + TEST_SECONDS_MAX - 5
        resent = _resend_unanswered(run)
        server.kill()  # the books must be right without the server's help

        _check_effects(crash_database, run, line_ids)
        reconcile = subprocess.run(
            [str(CLI), "reconcile"],
            env=env,
            capture_output=True,
            text=True,
            timeout=max(5.0, started + TEST_SECONDS_MAX - time.monotonic()),
        )
        assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
        assert reconcile.stdout.strip() == "", reconcile.stdout
        assert "0 findings" in reconcile.stderr
        commands = [c for cs in run.commands.values() for c in cs]
        restarts = [round(seconds, 1) for seconds in run.restart_seconds]
        print(  # shown with -s or on failure: how hard the run was
            f"commands={len(commands)} kills={KILLS} transport_errors={run.transport_errors} "
            f"server_errors={run.server_errors} replayed={sum(c.replayed for c in commands)} "
            f"resent_after_run={resent} restart_seconds={restarts} "
            f"seconds={time.monotonic() - started:.1f}"
        )
        assert time.monotonic() - started < TEST_SECONDS_MAX
    finally:
        run.stop.set()
        server.kill()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT_SECONDS * ATTEMPTS_IN_RUN_MAX)


def _check_effects(engine: Engine, run: Run, line_ids: list[str]) -> None:
    """The database holds each answered command's effect exactly once, and nothing else."""
    with engine.connect() as connection:
        for number, line_id in enumerate(line_ids):
            commands = run.commands[number]
            assert all(c.status in (200, 201) for c in commands)
            _check_line(connection, line_id, f"crash-borrower-{number}", commands)
        total = connection.execute(select(func.count()).select_from(lines)).scalar_one()
        assert total == len(line_ids)


def _by_kind(commands: list[Command], kind: str) -> list[dict[str, Any]]:
    return [c.document for c in commands if c.kind == kind and c.document is not None]


def _check_line(connection: Any, line_id: str, subject: str, commands: list[Command]) -> None:
    holds, posts = _by_kind(commands, "hold"), _by_kind(commands, "post")
    voids, repays = _by_kind(commands, "void"), _by_kind(commands, "repay")
    minor = {d["id"]: int(d["amount"].replace(".", "")) for d in holds}
    assert len(minor) == len(holds), "two holds answered with the same drawdown"

    stored = connection.execute(
        select(drawdowns.c.id, drawdowns.c.amount_minor, drawdowns.c.status).where(
            drawdowns.c.line_id == line_id
        )
    ).all()
    assert {row.id: row.amount_minor for row in stored} == minor
    assert len(stored) == len(holds)
    posted = {d["id"] for d in posts}
    voided = {d["id"] for d in voids}
    expected_status = {
        i: "posted" if i in posted else "voided" if i in voided else "held" for i in minor
    }
    assert {row.id: row.status for row in stored} == expected_status

    repaid: dict[str, int] = {}
    for d in repays:
        repaid[d["loan_id"]] = repaid.get(d["loan_id"], 0) + int(d["amount"].replace(".", ""))
    principal = {d["loan_id"]: int(d["amount"].replace(".", "")) for d in posts}
    stored_loans = connection.execute(
        select(loans.c.id, loans.c.principal_minor, loans.c.principal_outstanding_minor).where(
            loans.c.line_id == line_id
        )
    ).all()
    assert {row.id: row.principal_minor for row in stored_loans} == principal
    assert {row.id: row.principal_outstanding_minor for row in stored_loans} == {
        loan: amount - repaid.get(loan, 0) for loan, amount in principal.items()
    }
    stored_repayments = connection.execute(
        select(repayments_table.c.id, repayments_table.c.amount_minor).where(
            repayments_table.c.line_id == line_id
        )
    ).all()
    assert {row.id: row.amount_minor for row in stored_repayments} == {
        d["id"]: int(d["amount"].replace(".", "")) for d in repays
    }

    line = connection.execute(select(lines).where(lines.c.id == line_id)).one()
    held = sum(amount for i, amount in minor.items() if expected_status[i] == "held")
    assert (line.limit_minor, line.principal_outstanding_minor, line.held_minor) == (
        LINE_LIMIT_MINOR,
        sum(principal.values()) - sum(repaid.values()),
        held,
    )
    # One journal entry, one message and one stored key per command, and for the opening two
    # entries and two messages: the line at 0, then the staff member's grant of its limit.
    assert line.version == 2 + len(commands)
    count = lambda table, *where: connection.execute(  # noqa: E731
        select(func.count()).select_from(table).where(*where)
    ).scalar_one()
    assert count(journal, journal.c.line_id == line_id) == 2 + len(commands)
    # A repayment that prepays the interest-free loans' one instalment of principal, due in a
    # year, re-amortises it and tells the borrower: a second message.
    rescheduled = sum(1 for d in repays if d["rescheduled"])
    assert count(outbox, outbox.c.line_id == line_id) == 2 + len(commands) + rescheduled
    assert count(idempotency_keys, idempotency_keys.c.scope == f"borrower:{subject}") == len(
        commands
    )
