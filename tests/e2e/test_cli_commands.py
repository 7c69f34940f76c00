"""The operator's commands as a user runs them (`python -m creditline.cli.main ...` in another
process), on SQLite and PostgreSQL where they touch the store: `db upgrade`, `demo`,
`dispatch`, `remind`, `requests`, `sweep-holds` and `token`.

Each test looks at what the command did to the database, not only at its exit code. The
commands read the wall clock, so what they should find due is set up through a container whose
fixed clock is put where the test needs it (in the past for an expired hold, at the wall clock
for a freeze ending in two days).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest import NOTHING_DUE, POSTGRES_URL, REPO, START, STORES, TEST_CONTACTS, Run
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from creditline.bootstrap import Container
from creditline.db.engine import make_engine, normalise_url
from creditline.db.metadata import metadata
from creditline.decisions.tables import reminders
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.ledger.service import SWEEP_BATCH_SIZE_MAX
from creditline.ledger.tables import drawdowns, lines
from creditline.notices.tables import deliveries, inbox, outbox

MIGRATIONS = REPO / "src" / "creditline" / "db" / "migrations" / "versions"
DEMO_BORROWERS = 25  # a small book: the demo replays 180 days of end of day whatever its size


# --- helpers ----------------------------------------------------------------------------------
def ok(run: Any) -> str:
    """The stdout of a command that must have succeeded."""
    assert run.returncode == 0, run.stderr
    return str(run.stdout)


def last_json_line(stdout: str) -> Any:
    return json.loads(stdout.strip().splitlines()[-1])


def count(c: Container, table: Any, *where: Any) -> int:
    with c.db.reading() as connection:
        query = select(func.count()).select_from(table)
        return int(connection.execute(query.where(*where) if where else query).scalar_one())


def row_counts(c: Container) -> dict[str, int]:
    """How many rows every table holds: what "adds nothing" is measured with."""
    return {table.name: count(c, table) for table in metadata.sorted_tables}


def undelivered(c: Container) -> int:
    return count(c, outbox, outbox.c.delivered_at.is_(None))


def line_row(c: Container, line_id: str) -> dict[str, Any]:
    with c.db.reading() as connection:
        return dict(connection.execute(select(lines).where(lines.c.id == line_id)).mappings().one())


def open_line(c: Container, borrower: str, limit: str) -> str:
    agent = Actor("agent-1", Role.AGENT)
    return str(c.ledger.open_line(agent, f"open-{borrower}", borrower, "CNY", limit).document["id"])


def wall_clock_second() -> datetime:
    """Now, to the second: the stored and the announced ends then read back exactly."""
    return datetime.now(UTC).replace(microsecond=0)


# --- db upgrade -------------------------------------------------------------------------------
@contextmanager
def fresh_postgres_database(name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database beside the configured one, dropped afterwards."""
    admin_url = make_url(normalise_url(POSTGRES_URL))
    name = f"{admin_url.database}_{name}_{os.getpid()}".replace("-", "_")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=STORES)
def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, worker_id: str
) -> Iterator[str]:
    """A database without a schema: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with fresh_postgres_database(f"cli_{worker_id}") as url:
        yield url


def schema_of(url: str) -> tuple[set[str], list[str]]:
    """The tables of the database at `url` and the revision alembic recorded (if any)."""
    engine = make_engine(url)
    try:
        names = set(inspect(engine).get_table_names())
        revisions: list[str] = []
        if "alembic_version" in names:
            with engine.connect() as connection:
                revisions = list(
                    connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
                )
        return names, revisions
    finally:
        engine.dispose()


def newest_migration() -> str:
    """The revision of the newest file in db/migrations/versions (named NNNN_what.py)."""
    return max(path.name.split("_")[0] for path in MIGRATIONS.glob("[0-9]*_*.py"))


def test_db_upgrade_creates_the_schema_on_an_empty_database_and_can_run_again(
    creditline: Run, empty_database_url: str
) -> None:
    assert schema_of(empty_database_url) == (set(), [])
    first = ok(creditline("db", "upgrade", database_url=empty_database_url))
    assert first.startswith("schema is up to date on ")

    tables, revisions = schema_of(empty_database_url)
    assert {"lines", "journal", "decisions", "outbox", "inbox"} <= tables
    assert {table.name for table in metadata.sorted_tables} <= tables
    assert revisions == [newest_migration()]

    # A row written in between survives a second upgrade, which changes nothing.
    engine = make_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(
            lines.insert().values(
                id="line-before-second-upgrade",
                borrower_id="b-1",
                currency="CNY",
                limit_minor=100,
                principal_outstanding_minor=0,
                held_minor=0,
                status="active",
                version=0,
                head_hash="0" * 64,
                created_at=START,
                updated_at=START,
            )
        )
    engine.dispose()
    again = ok(creditline("db", "upgrade", database_url=empty_database_url))
    assert again == first
    assert schema_of(empty_database_url) == (tables, revisions)
    engine = make_engine(empty_database_url)
    with engine.connect() as connection:
        assert connection.execute(select(lines.c.id)).scalars().all() == [
            "line-before-second-upgrade"
        ]
    engine.dispose()


def test_db_upgrade_does_not_print_the_postgresql_password(creditline: Run, worker_id: str) -> None:
    # It names the database it upgraded, and that line ends up in deployment logs.
    with fresh_postgres_database(f"cli_password_{worker_id}") as url:
        parsed = make_url(url)
        if parsed.password is None:  # a server that trusts local connections ignores it
            parsed = parsed.set(password="s3cret-pw")
        run = creditline("db", "upgrade", database_url=parsed.render_as_string(hide_password=False))
        assert run.returncode == 0, run.stderr
        assert parsed.password not in run.stdout + run.stderr
        assert run.stdout.strip() == (
            f"schema is up to date on {parsed.render_as_string(hide_password=True)}"
        )
        assert "lines" in schema_of(url)[0]


# --- demo -------------------------------------------------------------------------------------
def test_demo_loads_a_book_that_reconciles_and_if_empty_adds_nothing_to_it(
    creditline: Run, database_url: str, container: Container
) -> None:
    started = time.monotonic()
    summary = json.loads(
        ok(
            creditline(
                "demo", "--borrowers", str(DEMO_BORROWERS), "--seed", "7", database_url=database_url
            )
        )
    )
    seconds = time.monotonic() - started
    assert seconds < 60, f"the demo took {seconds:.1f} s"

    assert summary["borrowers"] == DEMO_BORROWERS
    assert sum(summary["outcomes"].values()) == DEMO_BORROWERS  # one story per borrower
    with container.db.reading() as connection:
        owners = set(connection.execute(select(lines.c.borrower_id)).scalars())
    assert owners == {f"demo-{n:04d}" for n in range(1, DEMO_BORROWERS + 1)}
    assert count(container, lines) == DEMO_BORROWERS
    assert container.reconciler.run() == []
    # It delivered its notices as it loaded: nothing is left queued and each is in an inbox.
    assert undelivered(container) == 0
    notices = count(container, outbox, outbox.c.topic.like("notice.%"))
    assert notices > 0
    assert count(container, inbox) == notices
    assert summary["notices"]["delivered"] == count(container, outbox)
    # It ran today's reminders: every line that owed anything last month has its statement.
    statements = count(container, outbox, outbox.c.topic == "notice.monthly_statement")
    assert statements > 0 and summary["reminders"]["monthly_statement"] == statements

    before = row_counts(container)
    again = ok(creditline("demo", "--if-empty", database_url=database_url))
    assert again.strip() == "demo book already loaded; nothing to do"
    assert row_counts(container) == before


# --- dispatch ---------------------------------------------------------------------------------
@pytest.fixture
def queued(container: Container) -> dict[str, str]:
    """Eight queued messages, by hand: two lines opened by staff (two events and the two
    notices of their grants), a hold and its post (two events), then a freeze and a decrease
    (two adverse-change notices, one for each borrower)."""
    ledger = container.ledger
    spender = open_line(container, "borrower-spender", "10000.00")
    frozen = open_line(container, "borrower-frozen", "5000.00")
    borrower = Actor("borrower-spender", Role.BORROWER)
    held = ledger.place_hold(borrower, "hold-1", spender, "2000.00", 3).document["id"]
    container.loans.post_drawdown(borrower, "post-1", held)
    ledger.change_limit(
        Actor("agent-1", Role.AGENT),
        "freeze-1",
        frozen,
        "freeze",
        ["fraud_suspected"],
        until=START + timedelta(days=2),
    )
    ledger.change_limit(
        Actor("approver-1", Role.APPROVER),
        "decrease-1",
        spender,
        "decrease",
        ["utilisation_high"],
        limit="8000.00",
    )
    return {"spender": spender, "frozen": frozen}


def test_dispatch_delivers_the_queued_messages_to_the_inbox_once(
    creditline: Run, database_url: str, container: Container, queued: dict[str, str]
) -> None:
    assert (undelivered(container), count(container, inbox)) == (8, 0)

    # One batch of two: the two oldest go, the rest wait for the next run.
    once = ok(creditline("dispatch", "--once", "--batch", "2", database_url=database_url))
    assert json.loads(once) == {"claimed": 2, "delivered": 2, "retry": 0, "dead": 0}
    assert undelivered(container) == 6

    rest = ok(creditline("dispatch", database_url=database_url))
    assert json.loads(rest) == {"claimed": 6, "delivered": 6, "retry": 0, "dead": 0}
    assert undelivered(container) == 0
    with container.db.reading() as connection:
        filed = {
            (row.borrower_id, row.line_id, row.topic)
            for row in connection.execute(
                select(inbox.c.borrower_id, inbox.c.line_id, inbox.c.topic)
            )
        }
    assert filed == {
        ("borrower-frozen", queued["frozen"], "notice.line_improved"),
        ("borrower-spender", queued["spender"], "notice.line_improved"),
        ("borrower-frozen", queued["frozen"], "notice.adverse_change"),
        ("borrower-spender", queued["spender"], "notice.adverse_change"),
    }
    # Every message went to the webhook channel (none configured), the notices to the inbox too.
    assert count(container, deliveries, deliveries.c.channel == "webhook") == 8
    assert count(container, deliveries, deliveries.c.channel == "inbox") == 4

    before = row_counts(container)
    idle = ok(creditline("dispatch", database_url=database_url))
    assert json.loads(idle) == {"claimed": 0, "delivered": 0, "retry": 0, "dead": 0}
    assert row_counts(container) == before


# --- remind -----------------------------------------------------------------------------------
def test_remind_announces_a_freeze_ending_within_three_days_once(
    creditline: Run, database_url: str, container: Container, clock: FixedClock
) -> None:
    now = wall_clock_second()
    clock.set(now)  # the command reads the wall clock: freeze relative to it
    agent = Actor("agent-1", Role.AGENT)
    ending = open_line(container, "borrower-ending", "5000.00")
    later = open_line(container, "borrower-later", "5000.00")
    ends = now + timedelta(days=2)
    frozen = container.ledger.change_limit(
        agent, "freeze-ending", ending, "freeze", ["fraud_suspected"], until=ends
    ).document
    container.ledger.change_limit(
        agent, "freeze-later", later, "freeze", ["fraud_suspected"], until=now + timedelta(days=5)
    )
    outbox_before = count(container, outbox)

    sent = last_json_line(ok(creditline("remind", database_url=database_url)))
    assert sent == {**NOTHING_DUE, "freeze_ending_soon": 1}
    assert count(container, outbox) == outbox_before + 1
    with container.db.reading() as connection:
        [reminder] = connection.execute(
            select(outbox.c.line_id, outbox.c.borrower_id, outbox.c.payload).where(
                outbox.c.topic == "notice.freeze_ending_soon"
            )
        ).all()
        remembered = connection.execute(
            select(reminders.c.kind, reminders.c.about).where(
                reminders.c.kind != "statements_done"  # no statement was due for October
            )
        ).all()
    assert (reminder.line_id, reminder.borrower_id) == (ending, "borrower-ending")
    assert json.loads(reminder.payload)["until"] == ends.isoformat()
    assert [tuple(row) for row in remembered] == [("freeze_ending_soon", frozen["decision"]["id"])]

    again = last_json_line(ok(creditline("remind", database_url=database_url)))
    assert again == NOTHING_DUE
    assert count(container, outbox) == outbox_before + 1

    # And it reaches the borrower: the next dispatch files it in their inbox.
    ok(creditline("dispatch", database_url=database_url))
    with container.db.reading() as connection:
        topics = connection.execute(
            select(inbox.c.topic).where(inbox.c.borrower_id == "borrower-ending")
        ).scalars()
        assert "notice.freeze_ending_soon" in set(topics)


# --- requests ---------------------------------------------------------------------------------
def test_requests_lists_the_open_requests_oldest_first_with_their_deadlines(
    creditline: Run, database_url: str, container: Container, clock: FixedClock
) -> None:
    clock.set(wall_clock_second())  # the command reads the wall clock: nothing is overdue yet
    asked = []
    for n, kind, limit in ((1, "close", None), (2, "decrease", "5000.00")):
        borrower = Actor(f"borrower-asks-{n}", Role.BORROWER)
        line_id = open_line(container, borrower.subject, "20000.00")
        ask = container.ledger.requests.ask(borrower, f"ask-{n}", line_id, kind, limit)
        asked.append(ask.document)
        clock.advance(timedelta(minutes=1))
    container.ledger.requests.ask(
        Actor("borrower-asks-1", Role.BORROWER), "ask-1", asked[0]["line_id"], "close"
    )  # a replay: still two requests

    run = creditline("requests", database_url=database_url)
    listed = [json.loads(line) for line in ok(run).splitlines()]
    assert listed == [{**request, "overdue": False} for request in asked]
    assert run.stderr.strip() == "2 open requests, 0 overdue"
    paged = creditline("requests", "--limit", "1", database_url=database_url)
    assert [json.loads(line)["id"] for line in ok(paged).splitlines()] == [asked[0]["id"]]
    assert paged.stderr.strip().endswith(f"the next page: --after {asked[0]['id']}")
    rest = creditline("requests", "--after", asked[0]["id"], database_url=database_url)
    assert [json.loads(line)["id"] for line in ok(rest).splitlines()] == [asked[1]["id"]]
    assert ok(creditline("requests", "--status", "withdrawn", database_url=database_url)) == ""
    bad = creditline("requests", "--status", "pending", database_url=database_url)
    assert bad.returncode == 2
    assert bad.stderr.startswith("creditline: invalid_input: status must be one of")


# --- sweep-holds ------------------------------------------------------------------------------
def test_sweep_holds_releases_an_expired_hold_and_ends_a_passed_freeze(
    creditline: Run, database_url: str, container: Container, clock: FixedClock
) -> None:
    now = wall_clock_second()
    agent = Actor("agent-1", Role.AGENT)
    borrower = Actor("borrower-sweep", Role.BORROWER)
    line_id = open_line(container, borrower.subject, "10000.00")
    thawing = open_line(container, "borrower-thawing", "3000.00")
    # Two hours ago: a 4000.00 hold (it lived 30 minutes) and a freeze that ended an hour ago.
    clock.set(now - timedelta(hours=2))
    expired = container.ledger.place_hold(borrower, "hold-old", line_id, "4000.00", 3).document
    container.ledger.change_limit(
        agent,
        "freeze-old",
        thawing,
        "freeze",
        ["fraud_suspected"],
        until=now - timedelta(hours=1),
    )
    # Now: a 1000.00 hold that is still live.
    clock.set(now)
    live = container.ledger.place_hold(borrower, "hold-new", line_id, "1000.00", 3).document
    assert container.ledger.get_line(agent, line_id)["available"] == "5000.00"

    swept = last_json_line(ok(creditline("sweep-holds", database_url=database_url)))
    assert swept == {"holds_released": 1, "freezes_ended": 1, "closes_applied": 0, "failed": 0}
    line = container.ledger.get_line(agent, line_id)
    assert (line["available"], line["held"]) == ("9000.00", "1000.00")  # 10000 - 1000 live
    with container.db.reading() as connection:
        statuses = dict(connection.execute(select(drawdowns.c.id, drawdowns.c.status)).all())
    assert statuses == {expired["id"]: "expired", live["id"]: "held"}
    thawed = line_row(container, thawing)
    assert (thawed["status"], thawed["frozen_until"]) == ("active", None)
    assert container.reconciler.run() == []

    again = last_json_line(ok(creditline("sweep-holds", database_url=database_url)))
    assert again == {"holds_released": 0, "freezes_ended": 0, "closes_applied": 0, "failed": 0}
    assert container.ledger.get_line(agent, line_id) == line


def test_sweep_holds_keeps_sweeping_until_nothing_is_left(
    creditline: Run, database_url: str, container: Container, clock: FixedClock
) -> None:
    # One pass of the sweeper takes a bounded batch; the command runs passes until none is left.
    holds = 501
    assert holds > SWEEP_BATCH_SIZE_MAX  # the premise: more than one pass's worth
    borrower = Actor("borrower-many", Role.BORROWER)
    line_id = open_line(container, borrower.subject, "1000.00")
    clock.set(wall_clock_second() - timedelta(hours=2))  # each lived 30 minutes
    for number in range(holds):
        container.ledger.place_hold(borrower, f"hold-{number}", line_id, "1.00", 3)
    assert line_row(container, line_id)["held_minor"] == 50_100

    swept = last_json_line(ok(creditline("sweep-holds", database_url=database_url)))
    assert swept == {"holds_released": 501, "freezes_ended": 0, "closes_applied": 0, "failed": 0}
    agent = Actor("agent-1", Role.AGENT)
    line = container.ledger.get_line(agent, line_id)
    assert (line["available"], line["held"]) == ("1000.00", "0.00")
    assert count(container, drawdowns, drawdowns.c.status == "held") == 0


# --- token ------------------------------------------------------------------------------------
def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-{token[-12:]}"}


@pytest.fixture
def development_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command and the API under test sign and check with the same (development) key."""
    monkeypatch.delenv("CREDITLINE_JWT_SIGNING_KEY", raising=False)
    monkeypatch.delenv("CREDITLINE_ENV", raising=False)


@pytest.mark.usefixtures("development_key")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the token needs no store
def test_token_prints_a_bearer_the_api_accepts_for_that_role_and_subject(
    creditline: Run, client: TestClient, clock: FixedClock
) -> None:
    clock.set(wall_clock_second())  # the command issues at the wall clock; the API checks iat
    borrower_token = ok(creditline("token", "--role", "borrower", "--subject", "borrower-cli"))
    assert len(borrower_token.splitlines()) == 1
    borrower_token = borrower_token.strip()
    claims = jwt.decode(borrower_token, options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["exp"] - claims["iat"]) == (
        "borrower-cli",
        "borrower",
        12 * 3600,  # the default --hours
    )
    mine = client.get("/v1/me/preferences", headers=bearer(borrower_token))
    assert mine.status_code == 200, mine.text
    assert mine.json()["borrower_id"] == "borrower-cli"
    body = {"borrower_id": "borrower-cli", "currency": "CNY", "limit": "1000.00"}
    assert client.post("/v1/lines", json=body, headers=bearer(borrower_token)).status_code == 403

    agent_token = ok(creditline("token", "--role", "agent", "--subject", "ops-1", "--hours", "2"))
    agent_token = agent_token.strip()
    claims = jwt.decode(agent_token, options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["exp"] - claims["iat"]) == (
        "ops-1",
        "agent",
        2 * 3600,
    )
    opened = client.post("/v1/lines", json=body, headers=bearer(agent_token))
    assert opened.status_code == 201, opened.text
    assert client.get("/v1/me/preferences", headers=bearer(agent_token)).status_code == 403


@pytest.mark.usefixtures("development_key")
@pytest.mark.parametrize(
    "args",
    [
        ("--role", "superuser", "--subject", "x"),
        ("--role", "borrower"),
        ("--role", "borrower", "--subject", "x", "--hours", "0"),
        ("--role", "borrower", "--subject", "x" * 65),
    ],
    ids=["unknown-role", "no-subject", "zero-hours", "subject-too-long"],
)
def test_token_bad_input_is_one_line_on_stderr_and_exit_2(
    creditline: Run, args: tuple[str, ...]
) -> None:
    run = creditline("token", *args)
    assert run.returncode == 2, run.stdout
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.stderr.startswith("creditline: ")


@pytest.mark.usefixtures("development_key")
def test_token_names_the_roles_when_the_role_is_unknown(creditline: Run) -> None:
    run = creditline("token", "--role", "superuser", "--subject", "x")
    assert run.stderr.strip() == (
        "creditline: unknown role 'superuser'; one of: "
        "borrower, agent, analyst, approver, admin, service"
    )


def test_token_refuses_the_development_key_in_production(
    creditline: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anyone could mint an admin token with the public development key.
    monkeypatch.setenv("CREDITLINE_ENV", "production")
    monkeypatch.setenv("CREDITLINE_VERIFIER", "example_lender.verifiers:connect")  # not loaded
    monkeypatch.setenv("CREDITLINE_CONTACTS_FILE", str(TEST_CONTACTS))  # not read
    monkeypatch.delenv("CREDITLINE_JWT_SIGNING_KEY", raising=False)
    run = creditline("token", "--role", "admin", "--subject", "root")
    assert (run.returncode, run.stdout) == (2, "")
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "CREDITLINE_JWT_SIGNING_KEY" in run.stderr
