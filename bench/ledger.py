"""Ledger throughput: the service layer against raw SQL of the very same statements.

Prints holds/s and repayments/s through `LedgerService.place_hold` and `LedgerService.repay`
(a fresh idempotency key each, actor role `service`) next to a raw-SQL baseline that sends the
statements the service sends - the SQL strings are taken from the service's own prepared
statements (`statements_of`) - through psycopg / sqlite3 directly, in the same run, and the
ratio service/raw. Before any cell it checks that claim: one hold and one repayment through
each, recorded at the driver, must send the same SQL in the same order and change a twin
line and loan alike.

    .venv/bin/python bench/ledger.py                         # both stores, 1, 8, 32 workers
    .venv/bin/python bench/ledger.py --smoke                 # both stores in seconds (the tests)
    .venv/bin/python bench/ledger.py --stores postgresql --workers 8 --seconds 5 --passes 3
    .venv/bin/python bench/ledger.py --profile hold --stores sqlite   # cProfile one worker

Workers are OS processes (multiprocessing, spawn), so the GIL does not cap the client; a
threads variant (N threads in one process) and a shared-line variant (every worker on one line)
are run once each. Each worker owns its lines (limits far above what a run can use), so the
figures measure the per-transaction path, not lock waits. Service and raw cells alternate and
each figure is the median of `--passes` passes. Absolute numbers on shared machines swing
between runs (DESIGN.md §7); compare the ratios measured in the same run.

It is a report, not a test: it exits 0 whatever the figures, non-zero on a broken setup: the
raw baseline no longer matching the service, or any transaction failing (a failed transaction
is a bug in the bench or the service, not a figure).
"""

from __future__ import annotations

import argparse
import cProfile
import difflib
import hashlib
import json
import multiprocessing as mp
import os
import platform
import pstats
import queue
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import event, select
from uncapped import uncapped_products

from creditline.bootstrap import build
from creditline.config import Settings
from creditline.db.checkpoints import (
    SQLITE_AUTOCHECKPOINT_PAGES,
    WAL_AUTOCHECKPOINT_PAGES,
    Checkpointer,
)
from creditline.db.commands import Commands
from creditline.db.engine import make_engine
from creditline.db.group_commit import GroupCommit
from creditline.db.metadata import SQLITE_TIME_FORMAT
from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import SystemClock
from creditline.ledger.store import LedgerStore
from creditline.ledger.tables import drawdowns
from creditline.loans import tables as loan_tables
from creditline.loans.pricing import ProductPricing
from creditline.loans.products import load_catalogue
from creditline.loans.store import LoanStore
from creditline.notices.outbox import Outbox

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "creditline_bench"

LIMIT = "1000000000000.00"  # 10^14 minor units: no run comes near it
LOAN = "100000000000.00"  # each line's loan, repaid 1.00 at a time
AMOUNT = "1.00"
AMOUNT_MINOR = 100
TERM_MONTHS = 12
HOLD_TTL = timedelta(minutes=30)
LINES_PER_WORKER = 4
WARMUP_OPS = 10  # per client, before the clock starts: connect, let psycopg prepare (5)
MAX_OPS = 10_000_000  # per client per cell; the time bound ends every real cell first
ACTOR = Actor("bench", Role.SERVICE)
SCOPE = ACTOR.scope

CURRENCY = "CNY"


def bench_settings(url: str, variant: str = "procs") -> Settings:
    """The store at `url` with the bench's hold time, on the catalogue without caps: the
    bench's lines are far above what CN-1 allows a borrower with no income on file. A
    `-direct` variant commits each use case alone, an `-inline` one checkpoints inside the
    commits (SQLite; the code before decision 0029 is `-direct-inline`)."""
    return Settings(
        database_url=url,
        hold_ttl=HOLD_TTL,
        products_file=uncapped_products(),
        sqlite_group_commit="direct" not in variant,
        sqlite_background_checkpoints="inline" not in variant,
    )


# The idempotency response and outbox payload the raw client stores: about the size of the
# service's documents (a hold's response carries its quote); the check compares the bytes sent.
HOLD_RESPONSE_PAD = 2560
REPAY_RESPONSE_PAD = 650  # the answer says whether the schedule changed
REPAY_PAYLOAD_PAD = 290
CHECK_BYTES_TOLERANCE = 0.1
# The row that locks a loan with its line: the line's 11 columns, then the loan's.
# The loan's columns a repayment that only pays a fee writes back as they were.
UNCHANGED_BY_A_FEE = (
    "credit_minor",
    "interest_accrued_minor",
    "dpd",
    "eod_date",
)

# --smoke: every kind of cell on both stores, in seconds.
SMOKE_SIZES = {
    "workers": "2",
    "seconds": 0.25,
    "passes": 1,
    "threads": 2,
    "shared": 2,
    "quotes": 20,
}

# One-process cells on SQLite, each pass (decision 0029): group commit, one COMMIT per use
# case, and that with checkpoints inside the commits (the code before).
SQLITE_THREADS_VARIANTS = ("threads", "threads-direct", "threads-direct-inline")

# Targets (DESIGN.md §7 and the ledger's performance brief).
TARGET_PG_RATIO = 0.6
TARGET_PG_HOLDS = 2_000
TARGET_PG_WORKERS = 8
TARGET_SQLITE_HOLDS = 5_000


# --------------------------------------------------------------------------------------------
# Stores
# --------------------------------------------------------------------------------------------
@dataclass
class Store:
    """One database under test, as every worker needs to know it (picklable)."""

    name: str  # "postgresql" | "sqlite"
    url: str  # SQLAlchemy URL for the service
    raw_target: str  # libpq conninfo or SQLite file path for the raw baseline
    sql: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = field(default_factory=dict)
    # PostgreSQL: the service's one-statement shapes by use case, (SQL, plan): see `OneStatement`
    one: dict[str, tuple[str, tuple[tuple[int, Any], ...]]] = field(default_factory=dict)
    slots: list[tuple[list[str], list[str]]] = field(default_factory=list)  # (lines, loans)
    shared: tuple[list[str], list[str]] = ([], [])
    twins: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)  # by mode


# The writes of each use case in the order both clients send them; on PostgreSQL the service
# sends each list as its one statement (docs/decisions/0030), and so does the raw client.
SHAPES = {
    "hold": ("drawdown_insert", "line_move", "journal_insert", "outbox_insert", "idempotency_put"),
    "repay": (
        "loan_save",
        "instalment_save",
        "repayment_insert",
        "line_move",
        "journal_insert",
        "outbox_insert",
        "idempotency_put",
    ),
}


def statements_of(
    url: str,
) -> tuple[
    dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]],
    dict[str, tuple[str, tuple[tuple[int, Any], ...]]],
]:
    """The service's own prepared statements, by the names the raw client uses: SQL text,
    positional keys, bound constants; and the one statements that stand for a use case's
    writes (`SHAPES`) where the store has them: SQL and how its parameters come from the
    parts'. The one place that knows which store holds which statement (they move between
    LedgerStore and LoanStore)."""
    engine = make_engine(url)
    db = Database(engine)
    ledger, loans = LedgerStore(db), LoanStore(db)
    commands, outbox = Commands(db, SystemClock()), Outbox(db, SystemClock())
    prepared = {
        "idempotency_get": commands._find,
        "idempotency_put": commands._save,
        "line_locked": ledger._line_locked,
        "line_move": ledger._line_move,
        "journal_insert": ledger._journal_insert,
        "outbox_insert": outbox._insert,
        "drawdown_insert": ledger._drawdown_insert,
        "loan_locked": loans._locked,
        "loan_state": loans._state,
        "loan_instalments": loans._instalments,
        "loan_save": loans._loan_save,
        "instalment_save": loans._instalment_save,
        "repayment_insert": loans._repayment_insert,
    }
    engine.dispose()
    shapes = getattr(db, "_one_statements", None)  # none in the code before decision 0030
    one = {}
    for op, names in SHAPES.items():
        shape = (
            None if shapes is None else shapes.by_parts.get(tuple(prepared[n].sql for n in names))
        )
        if shape is not None:
            one[op] = (shape.sql, shape.plan)
    return {name: (p.sql, p.keys, dict(p.constants)) for name, p in prepared.items()}, one


def create_postgres(admin_url: str, name: str) -> tuple[str, str]:
    """Create database `name` beside the database of `admin_url`; its conninfo and URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    info["dbname"] = name
    params = psycopg.conninfo.make_conninfo("", **info)
    # Back to a URL for SQLAlchemy.
    user = info.get("user", "postgres")
    password = f":{info['password']}" if info.get("password") else ""
    host = info.get("host", "127.0.0.1")
    port = info.get("port", 5432)
    return params, f"postgresql://{user}{password}@{host}:{port}/{name}"


def drop_postgres(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def populate(store: Store, n_slots: int) -> None:
    """Migrate, then open LINES_PER_WORKER lines per worker slot, each with one large loan,
    one more line for the shared-line runs and a twin pair for the check - all through the
    service."""
    container = build(bench_settings(store.url), SystemClock())
    ledger = container.ledger
    admin = Actor("bench-setup", Role.SERVICE)

    def line_with_loan(tag: str) -> tuple[str, str]:
        line = ledger.open_line(admin, f"open-{tag}", f"b-{tag}", CURRENCY, LIMIT).document
        hold = ledger.place_hold(admin, f"hold-{tag}", line["id"], LOAN, 36).document
        loan = container.loans.post_drawdown(admin, f"post-{tag}", hold["id"]).document
        return line["id"], loan["loan_id"]

    try:
        for w in range(n_slots):
            pairs = [line_with_loan(f"{w}-{j}") for j in range(LINES_PER_WORKER)]
            store.slots.append(([p[0] for p in pairs], [p[1] for p in pairs]))
        line_id, loan_id = line_with_loan("shared")
        store.shared = ([line_id], [loan_id])
        for mode in ("service", "raw"):
            line_id, loan_id = line_with_loan(f"twin-{mode}")
            store.twins[mode] = ([line_id], [loan_id])
    finally:
        container.close()
    store.sql, store.one = statements_of(store.url)


# --------------------------------------------------------------------------------------------
# Clients: one per thread. `hold(key, i)` / `repay(key, i)` run one transaction on line/loan i.
# --------------------------------------------------------------------------------------------
class ServiceClient:
    def __init__(self, container: Any, lines: list[str], loans: list[str]) -> None:
        self.container, self.lines, self.loans = container, lines, loans

    def hold(self, key: str, i: int) -> None:
        line_id = self.lines[i % len(self.lines)]
        self.container.ledger.place_hold(ACTOR, key, line_id, AMOUNT, TERM_MONTHS)

    def repay(self, key: str, i: int) -> None:
        self.container.loans.repay(ACTOR, key, self.loans[i % len(self.loans)], AMOUNT)

    def close(self) -> None:
        pass


def _binder(
    keys: tuple[str, ...] | None, constants: dict[str, Any]
) -> Callable[[dict[str, Any]], Any]:
    """Parameters as the driver wants them: the dict (psycopg) or a tuple in order (sqlite3)."""
    if keys is None:
        if constants:
            return lambda params: {**constants, **params}
        return lambda params: params
    getter = itemgetter(*keys)
    if len(keys) == 1:
        return lambda params: (getter(params),)
    if constants:
        return lambda params: getter({**constants, **params})
    return getter


class RawClient:
    """The same statements, in the same order, straight on the driver: the floor under the
    service. Ids are counters, documents are fixed templates of the service's size; the journal
    hash is still one SHA-256 per entry. A repayment pays the first instalment's fee: the
    bench's loans are so large that no run gets past it (the check compares with the
    service's waterfall)."""

    def __init__(
        self,
        store: Store,
        lines: list[str],
        loans: list[str],
        connect_options: dict[str, Any] | None = None,
        sqlite_commits: SqliteCommits | None = None,
    ) -> None:
        self.lines, self.loans = lines, loans
        self.sqlite = store.name == "sqlite"
        # SQLite: how the service's variant commits and checkpoints, done the same way.
        self.commits = sqlite_commits or SqliteCommits(None, None, SQLITE_AUTOCHECKPOINT_PAGES)
        options = connect_options or {}
        if self.sqlite:
            self.conn: Any = sqlite3.connect(
                store.raw_target,
                isolation_level=None,
                check_same_thread=False,
                timeout=30,
                **options,
            )
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "foreign_keys=ON",
                "busy_timeout=30000",
                f"wal_autocheckpoint={self.commits.autocheckpoint_pages}",
            ):
                self.conn.execute(f"PRAGMA {pragma}")
        else:
            # BEGIN and COMMIT of its own in the pipeline, as the service's transactions
            # (`one_statement.pipelined_transaction`).
            self.conn = psycopg.connect(store.raw_target, autocommit=True, **options)
        self.cur = self.conn.cursor()
        self.pipe: Any = None  # PostgreSQL: the psycopg pipeline, as the service uses it
        self.pending: list[tuple[Any, str]] = []
        # PostgreSQL: writes wait for the COMMIT, and go as the service's one statement.
        self.writes: list[tuple[str, dict[str, Any], str | None]] = []
        self.one = store.one
        self.raw_cur = None if self.sqlite else psycopg.RawCursor(self.conn)
        self.s = {name: sql for name, (sql, _, _) in store.sql.items()}
        self.b = {name: _binder(keys, consts) for name, (_, keys, consts) in store.sql.items()}
        self.columns: dict[str, list[str]] = {}
        self.prefix = os.urandom(6).hex()  # 12 + 1 + 23 = 36 characters, like a UUID
        self.n = 0
        product = load_catalogue().choose(None, CURRENCY)  # what a hold naming none gets
        self.product, self.method = product.code, product.default_method.value
        self.hold_response = json.dumps({"id": "%s", "pad": "x" * HOLD_RESPONSE_PAD})
        self.repay_response = json.dumps({"id": "%s", "pad": "x" * REPAY_RESPONSE_PAD})
        self.repay_payload = json.dumps(
            {
                "available": "0.00",
                "line": {"pad": "x" * REPAY_PAYLOAD_PAD},
                "loan": "%s",
                "released": "0.00",
                "repaid": AMOUNT,
            }
        )

    def new_id(self) -> str:
        self.n += 1
        return f"{self.prefix}-{self.n:023d}"

    def _time(self, now: datetime) -> Any:
        return now.strftime(SQLITE_TIME_FORMAT) if self.sqlite else now

    def _date(self, day: date) -> Any:
        return day.isoformat() if self.sqlite else day

    def _begin(self) -> None:
        if not self.sqlite:
            self.cur.execute("BEGIN")
        elif self.commits.group is None:  # in a group, the batch began it
            self.cur.execute("BEGIN IMMEDIATE")

    def _ahead(self, name: str, params: dict[str, Any]) -> tuple[str, Any, Any]:
        """A read sent as the service's `Transaction.read_ahead` sends it: in a pipeline on a
        cursor of its own, answered with the next read; on SQLite run now. `_rows` reads it."""
        cursor = self.cur.connection.cursor()
        cursor.execute(self.s[name], self.b[name](params))
        return name, cursor, None if self.pipe is not None else cursor.fetchall()

    def _rows(self, ahead: tuple[str, Any, Any]) -> list[dict[str, Any]]:
        name, cursor, rows = ahead
        rows = cursor.fetchall() if rows is None else rows
        if name not in self.columns:  # known once answered
            self.columns[name] = [column[0] for column in cursor.description]
        return [dict(zip(self.columns[name], row, strict=True)) for row in rows]

    def _lookup(self, key: str) -> tuple[str, Any, Any]:
        """The key's lookup, as the service sends it: with the first lock (one wait)."""
        return self._ahead("idempotency_get", {"scope": SCOPE, "key": key})

    def _fresh(self, lookup: tuple[str, Any, Any]) -> None:
        if self._rows(lookup):
            raise RuntimeError("raw: key replayed")

    def _write(self, name: str, params: dict[str, Any], what: str | None = None) -> None:
        """Like the service's writes: sent now on SQLite (`what`: it must change one row), kept
        for the COMMIT in a pipeline."""
        if self.pipe is None:
            self.cur.execute(self.s[name], self.b[name](params))
            if what is not None and self.cur.rowcount != 1:
                raise RuntimeError(f"raw: {what}")
            return
        self.writes.append((name, params, what))

    def _send(self, name: str, params: dict[str, Any], what: str | None) -> None:
        if what is None:
            self.cur.execute(self.s[name], self.b[name](params))
            return
        cursor = self.conn.cursor()  # its row count is checked after the sync
        cursor.execute(self.s[name], self.b[name](params))
        self.pending.append((cursor, what))

    def _commit(self, op: str) -> None:
        writes, self.writes = self.writes, []
        shape = self.one.get(op)
        if writes and shape is not None and tuple(w[0] for w in writes) == SHAPES[op]:
            sql, plan = shape
            parts = [params for _, params, _ in writes]
            self.raw_cur.execute(sql, tuple([v if i < 0 else parts[i][v] for i, v in plan]))
        else:
            for write in writes:
                self._send(*write)
        if self.pending:
            self.pipe.sync()
            for cursor, what in self.pending:
                if cursor.rowcount != 1:
                    raise RuntimeError(f"raw: {what}")
            self.pending.clear()
        if self.sqlite and self.commits.group is not None:
            return  # the batch commits
        if not self.sqlite:
            self.cur.execute("COMMIT")  # sent with the pipeline's closing sync
            return
        self.conn.commit()
        if self.commits.checkpointer is not None:
            self.commits.checkpointer.committed(1)

    def _transaction(self, body: Any, key: str, i: int) -> None:
        """Run `body` as the service runs a command: in a pipeline on PostgreSQL."""
        try:
            if self.sqlite and self.commits.group is not None:
                self.commits.group.run_once(partial(self._in_batch, body, key, i))
                return
            if self.sqlite:
                body(key, i)
                return
            with self.conn.pipeline() as self.pipe:
                body(key, i)
        except BaseException:
            self.pending.clear()
            self.writes.clear()
            self.conn.rollback()
            raise
        finally:
            self.pipe = None

    def _in_batch(self, body: Any, key: str, i: int, tx: Transaction) -> None:
        """`body` in a group commit's batch: on its connection, in its savepoint."""
        self.cur = tx.cursor
        body(key, i)

    def _tail(
        self,
        line: tuple[Any, ...],
        kind: str,
        deltas: tuple[int, int, int],
        ref: dict[str, str],
        key: str,
        t: Any,
        topic: str,
        payload: str,
        response: str,
    ) -> None:
        """line_move, journal insert, outbox insert, idempotency insert."""
        d_limit, d_principal, d_held = deltas
        version = line[9] + 1
        limit_after, principal_after, held_after = line[3], line[4] + d_principal, line[5] + d_held
        digest = hashlib.sha256(
            f"{line[10]}|{line[0]}|{version}|{kind}|{d_principal}|{d_held}|{t}".encode()
        ).hexdigest()
        self._write(
            "line_move",
            {
                "id": line[0],
                "expected_version": line[9],
                "d_limit": d_limit,
                "d_principal": d_principal,
                "d_held": d_held,
                "status": line[6],
                "frozen_until": None,
                "status_decision_id": line[8],
                "closing_at": line[11],  # as read: a close to come stays
                "head_hash": digest,
                "now": t,
            },
            "line moved under its lock",
        )
        self._write(
            "journal_insert",
            {
                "line_id": line[0],
                "seq": version,
                "kind": kind,
                "limit_delta_minor": d_limit,
                "principal_delta_minor": d_principal,
                "held_delta_minor": d_held,
                "limit_after_minor": limit_after,
                "principal_after_minor": principal_after,
                "held_after_minor": held_after,
                "status_after": line[6],
                "drawdown_id": ref.get("drawdown_id"),
                "loan_id": ref.get("loan_id"),
                "decision_id": None,
                "created_at": t,
                "prev_hash": line[10],
                "hash": digest,
            },
        )
        self._write(
            "outbox_insert",
            {
                "id": self.new_id(),
                "topic": topic,
                "line_id": line[0],
                "borrower_id": line[1],
                "ref_id": ref.get("drawdown_id") or ref["loan_id"],
                "payload": payload,
                "created_at": t,
                "delivered_at": None,
                "attempts": 0,
                "claimed_until": None,
                "claim_token": None,
                "next_attempt_at": None,
                "last_error": None,
                "dead_at": None,
            },
        )
        self._write(
            "idempotency_put",
            {
                "scope": SCOPE,
                "key": key,
                "request_hash": digest,
                "response": response,
                "created_at": t,
            },
        )

    def hold(self, key: str, i: int) -> None:
        self._transaction(self._hold, key, i)

    def repay(self, key: str, i: int) -> None:
        self._transaction(self._repay, key, i)

    def _hold(self, key: str, i: int) -> None:
        s, b, cur = self.s, self.b, self.cur
        now = datetime.now(UTC)
        t = self._time(now)
        self._begin()
        lookup = self._lookup(key)
        cur.execute(s["line_locked"], b["line_locked"]({"id": self.lines[i % len(self.lines)]}))
        line = cur.fetchone()
        self._fresh(lookup)
        drawdown_id = self.new_id()
        self._write(
            "drawdown_insert",
            {
                "id": drawdown_id,
                "line_id": line[0],
                "amount_minor": AMOUNT_MINOR,
                "term_months": TERM_MONTHS,
                "status": "held",
                "expires_at": self._time(now + HOLD_TTL),
                "created_at": t,
                "resolved_at": None,
                "posted_minor": None,
                "loan_id": None,
                "product": self.product,
                "method": self.method,
            },
        )
        self._tail(
            line,
            "hold",
            (0, 0, AMOUNT_MINOR),
            {"drawdown_id": drawdown_id},
            key,
            t,
            "event.hold_placed",
            f'{{"drawdown": "{drawdown_id}"}}',
            self.hold_response % drawdown_id,
        )
        self._commit("hold")

    def _repay(self, key: str, i: int) -> None:
        s, b, cur = self.s, self.b, self.cur
        now = datetime.now(UTC)
        t = self._time(now)
        self._begin()
        lookup = self._lookup(key)
        loan_id = self.loans[i % len(self.loans)]
        # The loan's row, then its line's (the service's lock order for a repayment).
        cur.execute(s["loan_locked"], b["loan_locked"]({"id": loan_id}))
        line_id = cur.fetchone()[0]
        self._fresh(lookup)
        # The loan's state and instalments go with the line's lock (`LoanStore.load_ahead`).
        state_read = self._ahead("loan_state", {"id": loan_id})
        instalments_read = self._ahead("loan_instalments", {"id": loan_id})
        cur.execute(s["line_locked"], b["line_locked"]({"id": line_id}))
        line = cur.fetchone()
        state = self._rows(state_read)[0]
        instalments = self._rows(instalments_read)
        # A fee payment leaves the principal as it was: what the instalments still owe.
        outstanding_minor = sum(
            row["principal_minor"] - row["paid_principal_minor"] for row in instalments
        )
        first = instalments[0]
        first["paid_fee_minor"] += AMOUNT_MINOR
        today = now.astimezone(ZoneInfo(state["timezone"])).date()
        self._write(
            "loan_save",
            {
                "id": loan_id,
                "principal_outstanding_minor": outstanding_minor,
                "status": "open",
                "settled_at": None,
                **{name: state[name] for name in UNCHANGED_BY_A_FEE},
                # Penalty interest is charged per instalment; the loan keeps its totals.
                **{
                    name: sum(row[name] for row in instalments)
                    for name in ("penalty_minor", "paid_penalty_minor")
                },
            },
            "loan vanished under its lock",
        )
        self._write(
            "instalment_save",
            {"loan_id": loan_id, **first},
            "instalment vanished under its loan's lock",
        )
        self._write(
            "repayment_insert",
            {
                "id": self.new_id(),
                "loan_id": loan_id,
                "line_id": line[0],
                "amount_minor": AMOUNT_MINOR,
                "principal_minor": 0,
                "penalty_minor": 0,
                "fees_minor": AMOUNT_MINOR,
                "interest_minor": 0,
                "prepaid_minor": 0,
                "credit_minor": 0,
                "reapplied_minor": 0,
                "business_date": self._date(today),
                "created_at": t,
            },
        )
        self._tail(
            line,
            "repay",
            (0, 0, 0),
            {"loan_id": loan_id},
            key,
            t,
            "event.repayment_received",
            self.repay_payload % loan_id,
            self.repay_response % loan_id,
        )
        self._commit("repay")

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------------------------
# The check: the raw baseline sends what the service sends and does what it does
# --------------------------------------------------------------------------------------------
@contextmanager
def recording(store_name: str, sent: list[tuple[str, Any]]) -> Iterator[dict[str, Any]]:
    """Driver connect options whose cursors append each statement they send to `sent`, as
    (SQL, parameters). On PostgreSQL every cursor of this process records while it lasts: the
    one statements go through a `psycopg.RawCursor`, which no connect option makes."""
    if store_name == "sqlite":

        class SqliteCursor(sqlite3.Cursor):
            def execute(self, sql: str, parameters: Any = (), /) -> Any:
                if not sql.startswith("PRAGMA wal_checkpoint"):  # the checkpoints' thread
                    sent.append((sql, parameters))
                return super().execute(sql, parameters)

        class SqliteConnection(sqlite3.Connection):
            def cursor(self, factory: Any = SqliteCursor) -> Any:
                return super().cursor(factory)

        yield {"factory": SqliteConnection}
        return

    execute = psycopg.Cursor.execute

    def recorded(cursor: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        sent.append((query, params))
        return execute(cursor, query, params, **kwargs)

    psycopg.Cursor.execute = recorded  # type: ignore[method-assign]
    try:
        yield {}
    finally:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]


def effect(container: Any, line_id: str, loan_id: str) -> dict[str, Any]:
    """What holds and repayments leave on a line and its loan, less what differs between
    twins (ids, times, hashes)."""
    line = container.ledger.get_line(ACTOR, line_id)
    held = select(
        drawdowns.c.amount_minor,
        drawdowns.c.term_months,
        drawdowns.c.status,
        drawdowns.c.product,
        drawdowns.c.method,
    ).where(drawdowns.c.line_id == line_id)
    instalments, loans, repayments = (
        loan_tables.instalments,
        loan_tables.loans,
        loan_tables.repayments,
    )
    paid = select(
        instalments.c.number, *(c for c in instalments.c if c.name.startswith("paid_"))
    ).where(instalments.c.loan_id == loan_id)
    loan = select(
        loans.c.principal_outstanding_minor,
        loans.c.status,
        loans.c.penalty_minor,
        loans.c.paid_penalty_minor,
        *(loans.c[name] for name in UNCHANGED_BY_A_FEE),
    ).where(loans.c.id == loan_id)
    repaid = select(
        *(c for c in repayments.c if c.name not in ("id", "loan_id", "line_id", "created_at"))
    ).where(repayments.c.loan_id == loan_id)
    found = {"line": {k: v for k, v in line.items() if k not in ("id", "borrower_id")}}
    with container.db.reading() as connection:
        for part, query in (
            ("drawdowns", held),
            ("paid on instalments", paid),
            ("loan", loan),
            ("repayments", repaid),
        ):
            found[part] = sorted(connection.execute(query).all())
    return found


def check_raw_baseline(store: Store) -> str:
    """One hold and one repayment through the service on one twin line and loan, and through
    the raw client on the other, each recorded at the driver: the same SQL in the same order,
    the same effect, about as many bytes of parameters. Raises when the raw baseline no
    longer does what the service does; otherwise says what was compared."""
    sent: list[tuple[str, Any]] = []
    with recording(store.name, sent) as options:
        return _check_recorded(store, sent, options)


def _check_recorded(store: Store, sent: list[tuple[str, Any]], options: dict[str, Any]) -> str:
    container = build(bench_settings(store.url), SystemClock(), migrate=False)
    engine = container.db.engine
    event.listen(engine, "do_connect", lambda _d, _r, _a, params: params.update(options))
    engine.dispose()  # connections made from here on record
    clients = {
        "service": ServiceClient(container, *store.twins["service"]),
        "raw": RawClient(store, *store.twins["raw"], connect_options=options),
    }
    compared = []
    try:
        for op in ("hold", "repay"):
            recorded = {}
            for mode, client in clients.items():
                getattr(client, op)(f"check-warm-{op}-{mode}", 0)  # connecting is not the op
                sent.clear()
                getattr(client, op)(f"check-{op}-{mode}", 0)
                recorded[mode] = list(sent)
            service_sql, raw_sql = ([sql for sql, _ in recorded[m]] for m in clients)
            if service_sql != raw_sql:
                diff = difflib.unified_diff(service_sql, raw_sql, "service", "raw", lineterm="")
                raise RuntimeError(
                    f"{store.name} {op}: the raw baseline sends other statements than the "
                    "service:\n" + "\n".join(diff)
                )
            service_bytes, raw_bytes = (
                sum(len(repr(params)) for _, params in recorded[m]) for m in clients
            )
            if abs(raw_bytes - service_bytes) > CHECK_BYTES_TOLERANCE * service_bytes:
                raise RuntimeError(
                    f"{store.name} {op}: the raw baseline sends {raw_bytes:,} bytes of "
                    f"parameters, the service {service_bytes:,}: resize its documents"
                )
            compared.append(
                f"{op} {len(service_sql)} statements, {service_bytes:,} / {raw_bytes:,} bytes"
            )
        twins = {
            mode: effect(container, twin_lines[0], twin_loans[0])
            for mode, (twin_lines, twin_loans) in store.twins.items()
        }
        service, raw = twins["service"], twins["raw"]
        differ = [part for part in service if service[part] != raw[part]]
        if differ:
            raise RuntimeError(
                f"{store.name}: the raw baseline changes its twin line and loan otherwise than "
                "the service:\n"
                + "\n".join(
                    f"  {part}:\n    service {service[part]}\n    raw     {raw[part]}"
                    for part in differ
                )
            )
    finally:
        clients["raw"].close()
        container.close()
    return (
        f"Raw baseline checked on {store.name}: the service's SQL in its order and the same "
        f"effect on a twin line and loan; {'; '.join(compared)} of parameters (service / raw)."
    )


# --------------------------------------------------------------------------------------------
# Worker processes
# --------------------------------------------------------------------------------------------
@dataclass
class SqliteCommits:
    """How a raw client's SQLite transactions commit and checkpoint: as its cell's service."""

    group: GroupCommit | None  # the batches the raw clients of a threads cell share
    checkpointer: Checkpointer | None  # None: checkpoints inside the commits
    autocheckpoint_pages: int
    engine: Any = None

    def close(self) -> None:
        if self.group is not None:
            self.group.close()
        if self.checkpointer is not None:
            self.checkpointer.close()
        if self.engine is not None:
            self.engine.dispose()


def service_config(variant: str) -> tuple[bool, bool]:
    """(group commit, background checkpoints) of a cell's variant."""
    return "direct" not in variant, "inline" not in variant


class WorkerState:
    """What one worker process keeps between cells: a container per store and variant, raw
    connections, and the raw clients' commit machinery on SQLite."""

    def __init__(self) -> None:
        self.containers: dict[tuple[str, tuple[bool, bool]], Any] = {}
        self.raw: dict[tuple[str, int, str], RawClient] = {}
        self.commits: dict[str, SqliteCommits] = {}

    def client(
        self, store: Store, mode: str, slot: int, lines: list[str], loans: list[str], variant: str
    ) -> Any:
        config = service_config(variant) if store.name == "sqlite" else (True, True)
        if mode == "service":
            if (store.name, config) not in self.containers:
                self.containers[(store.name, config)] = build(
                    bench_settings(store.url, variant),
                    SystemClock(),
                    migrate=False,
                )
            return ServiceClient(self.containers[(store.name, config)], lines, loans)
        # Raw: a threads cell with group commit batches its clients as the service does.
        kind = "group" if variant == "threads" else "plain"
        kind += "-inline" if not config[1] else ""
        raw = self.raw.get((store.name, slot, kind))
        if raw is None:
            commits = self._commits(store, kind) if store.name == "sqlite" else None
            raw = RawClient(store, lines, loans, sqlite_commits=commits)
            self.raw[(store.name, slot, kind)] = raw
        raw.lines, raw.loans = lines, loans
        return raw

    def _commits(self, store: Store, kind: str) -> SqliteCommits:
        if kind not in self.commits:
            if kind.endswith("-inline"):
                self.commits[kind] = SqliteCommits(None, None, SQLITE_AUTOCHECKPOINT_PAGES)
            else:
                engine = make_engine(store.url)
                checkpointer = Checkpointer(engine)
                make_tx = partial(Transaction, dialect="sqlite")
                group = (
                    GroupCommit(engine, make_tx, checkpointer.committed)
                    if kind == "group"
                    else None
                )
                self.commits[kind] = SqliteCommits(
                    group, checkpointer, WAL_AUTOCHECKPOINT_PAGES, engine
                )
        return self.commits[kind]

    def close(self, store_name: str | None = None) -> None:
        for key in list(self.containers):
            if store_name in (None, key[0]):
                self.containers.pop(key).close()
        for raw_key in list(self.raw):
            if store_name in (None, raw_key[0]):
                self.raw.pop(raw_key).close()
        if store_name in (None, "sqlite"):
            for kind in list(self.commits):
                self.commits.pop(kind).close()


def run_client(client: Any, op: str, tag: str, start: float, deadline: float) -> dict[str, Any]:
    """Run `op` until `deadline` (and at most MAX_OPS times); count what finished in time."""
    fn = client.hold if op == "hold" else client.repay
    counted = done = errors = 0
    first_error = None
    while time.monotonic() < start:
        time.sleep(0.0005)
    while done < MAX_OPS:
        try:
            fn(f"{tag}-{done}", done)
        except Exception as exc:  # a report, not a test: count and go on
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
        done += 1
        now = time.monotonic()
        if now <= deadline:
            counted += 1
        else:
            break
    return {"counted": counted, "done": done, "errors": errors, "first_error": first_error}


def run_all(
    prepared: list[tuple[Any, str]], op: str, start: float, deadline: float
) -> list[dict[str, Any]]:
    """Run every client of this worker (one per thread) in the same window."""
    if len(prepared) == 1:
        return [run_client(prepared[0][0], op, prepared[0][1], start, deadline)]
    outs: list[dict[str, Any]] = [{}] * len(prepared)

    def one(t: int) -> None:
        outs[t] = run_client(prepared[t][0], op, prepared[t][1], start, deadline)

    threads = [threading.Thread(target=one, args=(t,)) for t in range(len(outs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return outs


def warm(prepared: list[tuple[Any, str]], op: str) -> None:
    """A few uncounted transactions per client, all clients at once (so a threads cell opens
    its pool connections now, not while the clock runs)."""

    def one(client: Any, tag: str) -> None:
        for k in range(WARMUP_OPS):
            getattr(client, op)(f"{tag}-warm-{k}", k)

    if len(prepared) == 1:
        one(*prepared[0])
        return
    errors: list[BaseException] = []

    def guarded(client: Any, tag: str) -> None:
        try:
            one(client, tag)
        except BaseException as exc:  # re-raised in the worker below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=p) for p in prepared]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]


def group_of(client: Any) -> GroupCommit | None:
    """The group commit a client's transactions go through, if any (SQLite)."""
    if isinstance(client, ServiceClient):
        return client.container.db.group_commit  # type: ignore[no-any-return]
    return client.commits.group if client.sqlite else None  # type: ignore[no-any-return]


def worker_main(index: int, commands: Any, results: Any) -> None:
    state = WorkerState()
    prepared: list[tuple[Any, str]] = []
    op = ""
    try:
        while True:
            cmd = commands.get()
            kind = cmd["kind"]
            if kind == "stop":
                break
            if kind == "close":
                state.close(cmd["store"])
                results.put({"worker": index, "kind": "closed"})
            elif kind == "prepare":
                store, mode, op = cmd["store"], cmd["mode"], cmd["op"]
                prepared = []
                try:
                    for t, (slot, lines, loans) in enumerate(cmd["assignments"]):
                        client = state.client(store, mode, slot, lines, loans, cmd["variant"])
                        prepared.append((client, f"{cmd['tag']}-w{index}-t{t}"))
                    warm(prepared, op)
                    results.put({"worker": index, "kind": "ready"})
                except Exception:
                    results.put({"worker": index, "kind": "ready", "error": traceback.format_exc()})
            elif kind == "go":
                start, deadline = cmd["start"], cmd["deadline"]
                groups = {id(g): g for g in (group_of(c) for c, _ in prepared) if g is not None}
                batched0 = [(g.commits, g.works_committed) for g in groups.values()]
                cpu0 = time.process_time()
                outs = run_all(prepared, op, start, deadline)
                cpu = time.process_time() - cpu0
                batched = [
                    (g.commits - c, g.works_committed - w)
                    for g, (c, w) in zip(groups.values(), batched0, strict=True)
                ]
                results.put(
                    {
                        "worker": index,
                        "kind": "result",
                        "counted": sum(o["counted"] for o in outs),
                        "done": sum(o["done"] for o in outs),
                        "errors": sum(o["errors"] for o in outs),
                        "first_error": next(
                            (o["first_error"] for o in outs if o["first_error"]), None
                        ),
                        "cpu": cpu,
                        "commits": sum(b[0] for b in batched),
                        "works_committed": sum(b[1] for b in batched),
                    }
                )
    finally:
        state.close()


class Pool:
    """`size` spawned worker processes, each with its own command queue."""

    def __init__(self, size: int) -> None:
        ctx = mp.get_context("spawn")
        self.results = ctx.Queue()
        self.commands = [ctx.Queue() for _ in range(size)]
        self.procs = [
            ctx.Process(target=worker_main, args=(i, self.commands[i], self.results), daemon=True)
            for i in range(size)
        ]
        for p in self.procs:
            p.start()

    def collect(self, n: int, timeout: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        limit = time.monotonic() + timeout
        while len(out) < n:
            try:
                out.append(self.results.get(timeout=max(0.1, limit - time.monotonic())))
            except queue.Empty:
                raise RuntimeError(f"workers did not answer in {timeout:.0f} s") from None
        return out

    def close_store(self, name: str) -> None:
        for q in self.commands:
            q.put({"kind": "close", "store": name})
        self.collect(len(self.commands), 60)

    def stop(self) -> None:
        for q in self.commands:
            q.put({"kind": "stop"})
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()


# --------------------------------------------------------------------------------------------
# CPU accounting (Linux /proc): the server's backends, and what everyone else on the machine used
# --------------------------------------------------------------------------------------------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores), or NaN off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / CLOCK_TICKS


def process_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by `pids`; processes gone meanwhile count 0."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


class ServerProbe:
    """The PostgreSQL backends serving the bench database (same machine): their CPU per cell."""

    def __init__(self, conninfo: str) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.own = self.conn.info.backend_pid

    def backends(self) -> list[int]:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s",
            (self.own,),
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------------------------
# Cells and the schedule
# --------------------------------------------------------------------------------------------
@dataclass
class Cell:
    store: str
    op: str
    variant: str  # "procs" | "threads" | "shared"
    clients: int
    mode: str  # "service" | "raw"
    rate: float
    cpu_us: float  # client CPU per transaction, summed over the client processes
    errors: int
    first_error: str | None
    server_us: float = float("nan")  # PostgreSQL backends' CPU per transaction
    others: float = float("nan")  # share of the machine's CPU used by everything else
    works_per_commit: float = float("nan")  # through a group commit (SQLite)


def run_cell(
    pool: Pool,
    store: Store,
    op: str,
    mode: str,
    clients: int,
    variant: str,
    seconds: float,
    tag: str,
    probe: ServerProbe | None = None,
) -> Cell:
    if variant.startswith("threads"):  # `clients` threads in worker 0, each on its own lines
        plans = {0: [(t, *store.slots[t]) for t in range(clients)]}
    elif variant == "shared":  # `clients` processes, all on the one shared line / loan
        plans = {w: [(w, *store.shared)] for w in range(clients)}
    else:
        plans = {w: [(w, *store.slots[w])] for w in range(clients)}
    for w, assignments in plans.items():
        pool.commands[w].put(
            {
                "kind": "prepare",
                "store": store,
                "mode": mode,
                "op": op,
                "assignments": assignments,
                "tag": tag,
                "variant": variant,
            }
        )
    ready = pool.collect(len(plans), 300)
    broken = [r["error"] for r in ready if r.get("error")]
    if broken:
        raise RuntimeError(f"worker setup failed:\n{broken[0]}")
    backends = probe.backends() if probe is not None else []
    server0, busy0, wall0 = process_seconds(backends), machine_busy_seconds(), time.monotonic()
    start = wall0 + 0.05
    deadline = start + seconds
    for w in plans:
        pool.commands[w].put({"kind": "go", "start": start, "deadline": deadline})
    outs = pool.collect(len(plans), seconds + 300)
    server = process_seconds(backends) - server0
    busy, wall = machine_busy_seconds() - busy0, time.monotonic() - wall0
    counted = sum(o["counted"] for o in outs)
    done = sum(o["done"] for o in outs)
    client = sum(o["cpu"] for o in outs)
    return Cell(
        store=store.name,
        op=op,
        variant=variant,
        clients=clients,
        mode=mode,
        rate=counted / seconds,
        cpu_us=1e6 * client / max(done, 1),
        errors=sum(o["errors"] for o in outs),
        first_error=next((o["first_error"] for o in outs if o["first_error"]), None),
        server_us=1e6 * server / max(done, 1) if probe is not None else float("nan"),
        others=max(0.0, busy - client - server) / ((os.cpu_count() or 1) * wall),
        works_per_commit=(
            sum(o["works_committed"] for o in outs) / sum(o["commits"] for o in outs)
            if sum(o["commits"] for o in outs)
            else float("nan")
        ),
    )


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def bench_store(pool: Pool, store: Store, args: argparse.Namespace) -> list[Cell]:
    cells: list[Cell] = []
    flip = 0
    probe = ServerProbe(store.raw_target) if store.name == "postgresql" else None

    def pair(op: str, clients: int, variant: str, pass_no: int) -> None:
        nonlocal flip
        order = ("service", "raw") if flip % 2 == 0 else ("raw", "service")
        flip += 1
        for mode in order:
            tag = f"{store.name[:2]}-{op}-{variant}{clients}-p{pass_no}-{mode}"
            cell = run_cell(pool, store, op, mode, clients, variant, args.seconds, tag, probe)
            cells.append(cell)
            note = f"  errors={cell.errors} ({cell.first_error})" if cell.errors else ""
            server = f", server {cell.server_us:5,.0f}" if probe else ""
            progress(
                f"  {store.name:10} {op:5} {variant:7} {clients:>2} {mode:7} pass {pass_no}: "
                f"{cell.rate:8,.0f}/s  µs CPU/txn: client {cell.cpu_us:5,.0f}{server}; "
                f"others {100 * cell.others:3.0f}%{note}"
            )

    # SQLite, one process: group commit on and off, checkpoints on their thread and inline
    # (the code before decision 0029), each beside raw SQL committed and check-pointed alike.
    sqlite_threads = SQLITE_THREADS_VARIANTS if store.name == "sqlite" and args.threads else ()
    try:
        for pass_no in range(args.passes):
            for clients in args.workers:
                for op in ("hold", "repay"):
                    pair(op, clients, "procs", pass_no)
            if store.name == "sqlite" and args.workers:  # each process a lone caller
                for variant in ("procs-direct", "procs-direct-inline"):
                    pair("hold", min(args.workers), variant, pass_no)
            for variant in sqlite_threads:
                pair("hold", args.threads, variant, pass_no)
        if args.threads and not sqlite_threads:
            pair("hold", args.threads, "threads", 0)
        if args.threads:  # repayments in threads: one process's COMMITs, on either store
            pair("repay", args.threads, "threads", 0)
        if args.shared:
            pair("hold", args.shared, "shared", 0)
    finally:
        if probe is not None:
            probe.close()
    return cells


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def median(cells: list[Cell], attr: str = "rate") -> float:
    return statistics.median(getattr(c, attr) for c in cells) if cells else float("nan")


def fmt_rate(value: float) -> str:
    return "–" if value != value else f"{value:,.0f}"


def report(cells: list[Cell], args: argparse.Namespace, meta: dict[str, str]) -> str:
    groups: dict[tuple[str, str, str, int], dict[str, list[Cell]]] = {}
    for c in cells:
        groups.setdefault((c.store, c.op, c.variant, c.clients), {}).setdefault(c.mode, []).append(
            c
        )
    variant_text = {
        "procs": "{n} proc",
        "threads": "{n} threads, 1 proc",
        "shared": "{n} proc, 1 shared line",
        "procs-direct": "{n} proc, no group commit",
        "procs-direct-inline": "{n} proc, before 0029",
        "threads-direct": "{n} threads, 1 proc, no group commit",
        "threads-direct-inline": "{n} threads, 1 proc, before 0029",
    }
    lines = [
        f"Ledger throughput, transactions/s: median of {args.passes} interleaved passes of "
        f"{args.seconds:g} s (shared-line rows, and threads rows on PostgreSQL: 1 pass). "
        f"{meta['machine']}",
        "SQLite rows with threads: group commit (decision 0029) beside raw SQL batched by the "
        "same group commit; `no group commit`: a COMMIT per hold on both sides; "
        "`before 0029` also checkpoints inside the commits, on both sides. Load average: "
        f"{meta['load']}.",
        "CPU columns are µs per transaction, service / raw: the client processes, and the "
        "PostgreSQL backends serving them. `others` is the share of the machine's CPU used by "
        "processes outside the bench during the cells (noise).",
        "",
        "| store | op | clients | service | raw SQL | service/raw | by CPU | client CPU "
        "| server CPU | others | passes service / raw |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]

    def cpu_ratio(svc: list[Cell], raw: list[Cell]) -> float:
        """raw CPU / service CPU per transaction (client + server): what the throughput ratio
        tends to when the machine's CPU is the limit, and much steadier under outside load."""

        def total(cells: list[Cell]) -> float:
            server = median(cells, "server_us")
            return median(cells, "cpu_us") + (server if server == server else 0.0)

        return total(raw) / total(svc) if svc and raw else float("nan")

    def pair_text(svc: list[Cell], raw: list[Cell], attr: str) -> str:
        a, b = median(svc, attr), median(raw, attr)
        return "–" if a != a and b != b else f"{fmt_rate(a)} / {fmt_rate(b)}"

    for (store, op, variant, n), modes in groups.items():
        svc, raw = modes.get("service", []), modes.get("raw", [])
        s, r = median(svc), median(raw)
        ratio = s / r if r else float("nan")
        passes = " / ".join(" ".join(fmt_rate(c.rate) for c in cs) for cs in (svc, raw))
        errs = sum(c.errors for c in svc + raw)
        if errs:
            passes += f" ({errs} errors)"
        lines.append(
            f"| {store} | {op} | {variant_text[variant].format(n=n)} | {fmt_rate(s)} "
            f"| {fmt_rate(r)} | {ratio:.2f} | {cpu_ratio(svc, raw):.2f} "
            f"| {pair_text(svc, raw, 'cpu_us')} "
            f"| {pair_text(svc, raw, 'server_us')} | {100 * median(svc + raw, 'others'):.0f}% "
            f"| {passes} |"
        )
    batched = [
        f"{variant_text[v].format(n=n)} {mode} {median(cs, 'works_per_commit'):.1f}"
        for (store, op, v, n), modes in groups.items()
        for mode, cs in modes.items()
        if median(cs, "works_per_commit") == median(cs, "works_per_commit")
        and (store, op) == ("sqlite", "hold")
        and v.startswith("threads")
    ]
    if batched:
        lines += ["", "SQLite holds per COMMIT through group commit: " + "; ".join(batched)]
    lines += ["", "Targets:"]

    def rate_of(store: str, mode: str, clients: int, op: str = "hold") -> float:
        modes = groups.get((store, op, "procs", clients), {})
        return median(modes.get(mode, []))

    def verdict(ok: bool | None) -> str:
        return "n/a (not measured)" if ok is None else ("PASS" if ok else "MISS")

    pg_s = rate_of("postgresql", "service", TARGET_PG_WORKERS)
    pg_r = rate_of("postgresql", "raw", TARGET_PG_WORKERS)
    measured = pg_s == pg_s and pg_r == pg_r
    ratio = pg_s / pg_r if measured and pg_r else float("nan")
    pg_modes = groups.get(("postgresql", "hold", "procs", TARGET_PG_WORKERS), {})
    by_cpu = cpu_ratio(pg_modes.get("service", []), pg_modes.get("raw", []))
    lines.append(
        f"- PostgreSQL service ≥ {TARGET_PG_RATIO}× raw at {TARGET_PG_WORKERS} workers (holds): "
        f"{ratio:.3f}× (by CPU per transaction {by_cpu:.3f}×) → "
        f"{verdict(ratio >= TARGET_PG_RATIO if measured else None)}"
    )
    lines.append(
        f"- PostgreSQL service ≥ {TARGET_PG_HOLDS:,} holds/s at {TARGET_PG_WORKERS} workers: "
        f"{fmt_rate(pg_s)}/s → {verdict(pg_s >= TARGET_PG_HOLDS if pg_s == pg_s else None)}"
    )
    one_process = {
        f"1 proc {fmt_rate(rate)}/s": rate
        for rate in [rate_of("sqlite", "service", 1)]
        if rate == rate
    }
    for (store, op, variant, n), modes in groups.items():
        if (store, op, variant) == ("sqlite", "hold", "threads") and modes.get("service"):
            one_process[f"{n} threads {fmt_rate(median(modes['service']))}/s"] = median(
                modes["service"]
            )
    sq = max(one_process.values(), default=float("nan"))
    lines.append(
        f"- SQLite service ≥ {TARGET_SQLITE_HOLDS:,} holds/s in one process: "
        f"{', '.join(one_process) or '–'} → "
        f"{verdict(sq >= TARGET_SQLITE_HOLDS if sq == sq else None)}"
    )
    return "\n".join(lines)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the shared machine was."""
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def machine(pg_version: str | None) -> str:
    parts = [f"{os.cpu_count()} CPUs", f"Python {platform.python_version()}"]
    if pg_version:
        parts.append(f"PostgreSQL {pg_version}")
    parts.append(f"SQLite {sqlite3.sqlite_version}")
    parts.append(f"psycopg {psycopg.__version__}")
    return "Machine: " + ", ".join(parts) + "."


# --------------------------------------------------------------------------------------------
# Profile one worker
# --------------------------------------------------------------------------------------------
CATEGORIES = (
    ("SQLAlchemy (pool, connection, transaction)", ("sqlalchemy",)),
    ("psycopg (Python + C, incl. waiting on the server)", ("psycopg",)),
    ("sqlite3 driver (C, incl. SQLite itself)", ("sqlite3.",)),
    ("hashing (sha256)", ("_hashlib", "hashlib")),
    ("json", ("json",)),
    ("Decimal (money parse/format)", ("decimal", "Decimal")),
    ("ids (uuid, urandom)", ("uuid", "urandom", "creditline/kernel/ids")),
    ("creditline: ledger service/store/model", ("creditline/ledger",)),
    ("creditline: db/unit_of_work", ("creditline/db",)),
    ("creditline: kernel (money, clock, actors)", ("creditline/kernel",)),
    ("datetime / time", ("datetime", "strftime", "time.")),
    ("threading / locks", ("threading", "lock")),
)


def categorise(func: tuple[str, int, str]) -> str:
    path, _, name = func
    text = f"{path}:{name}"
    for label, needles in CATEGORIES:
        if any(n in text for n in needles):
            return label
    return "other (stdlib, interpreter)"


def profile(store: Store, op: str, seconds: float, timer: str) -> str:
    state = WorkerState()
    client = state.client(store, "service", 0, *store.slots[0], "procs")
    for k in range(WARMUP_OPS * 5):
        getattr(client, op)(f"prof-warm-{timer}-{k}", k)
    prof = cProfile.Profile(time.process_time if timer == "cpu" else time.perf_counter)
    n = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    prof.enable()
    while n < MAX_OPS and time.perf_counter() - wall0 < seconds:
        getattr(client, op)(f"prof-{timer}-{n}", n)
        n += 1
    prof.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    state.close()
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values()) or 1.0  # type: ignore[attr-defined]
    by_cat: dict[str, float] = {}
    for func, v in stats.stats.items():  # type: ignore[attr-defined]
        by_cat[categorise(func)] = by_cat.get(categorise(func), 0.0) + v[2]
    out = [
        f"{store.name} {op}, one worker, service path, cProfile ({timer} timer): {n:,} txns in "
        f"{wall:.1f} s wall, {1e6 * cpu / n:,.0f} µs CPU/txn under the profiler "
        f"({1e6 * wall / n:,.0f} µs wall/txn).",
        "",
        "| where (own time) | share | µs/txn |",
        "|---|--:|--:|",
    ]
    for label, t in sorted(by_cat.items(), key=lambda kv: -kv[1]):
        out.append(f"| {label} | {100 * t / total:.0f}% | {1e6 * t / n:,.1f} |")
    out += ["", "Top functions by own time:", ""]
    out += ["| function | calls/txn | µs/txn |", "|---|--:|--:|"]
    top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:25]  # type: ignore[attr-defined]
    for (path, line, name), v in top:
        short = path.split("site-packages/")[-1].split("src/")[-1]
        out.append(f"| {short}:{line}({name}) | {v[1] / n:.1f} | {1e6 * v[2] / n:,.1f} |")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,8,32", help="process counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each cell")
    parser.add_argument("--passes", type=int, default=2, help="interleaved passes (median)")
    parser.add_argument("--threads", type=int, default=8, help="threads variant (0: skip)")
    parser.add_argument("--shared", type=int, default=8, help="shared-line workers (0: skip)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--sqlite-path", default=None, help="a new file (default: a temp file)")
    parser.add_argument("--json", default=None, help="also write the cells to this file")
    parser.add_argument("--quotes", type=int, default=300, help="amounts priced in-process")
    parser.add_argument("--profile", choices=("hold", "repay"), default=None)
    parser.add_argument("--profile-timer", choices=("cpu", "wall"), default="cpu")
    parser.add_argument(
        "--smoke", action="store_true", help="a run of seconds, every path (sets the sizes)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE_SIZES)
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    unknown = set(args.stores) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown stores: {', '.join(sorted(unknown))}")
    return args


def pricing_report(quotes: int) -> str:
    """What pricing a hold costs in this process, for `quotes` amounts: each priced afresh, then
    again, remembered. Every hold of the cells is AMOUNT over TERM_MONTHS, so after a day's
    first hold each finds its quote remembered; this is the price of a hold that does not."""
    pricing = ProductPricing(load_catalogue())  # the shipped caps, as a production hold
    at = datetime.now(UTC)
    amounts = [AMOUNT_MINOR * 1000 + 137 * n for n in range(1, quotes + 1)]
    pricing.price_hold(None, CURRENCY, AMOUNT_MINOR, TERM_MONTHS, None, at)
    cpu = []
    for _ in ("afresh", "remembered"):
        began = time.process_time()
        for amount in amounts:
            pricing.price_hold(None, CURRENCY, amount, TERM_MONTHS, None, at)
        cpu.append((time.process_time() - began) / quotes * 1e6)
    return (
        f"Pricing a hold in-process ({CURRENCY}, the shipped catalogue's default product, "
        f"{TERM_MONTHS} months, {quotes} amounts): {cpu[0]:,.0f} µs CPU a quote priced afresh, "
        f"{cpu[1]:,.1f} µs remembered."
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    load_at_start = load_average()
    n_slots = max([*args.workers, args.threads, args.shared, 1])
    # The pid keeps runs side by side (two checkouts, CI and a developer) apart.
    database = f"{BENCH_DATABASE}_{os.getpid()}"
    tmpdir = None
    stores: list[Store] = []
    checks: list[str] = []
    pg_version = None
    try:
        for name in args.stores:
            progress(f"setting up {name} ...")
            if name == "postgresql":
                conninfo, url = create_postgres(args.postgres_url, database)
                with psycopg.connect(conninfo) as conn:
                    row = conn.execute("SHOW server_version").fetchone()
                    pg_version = str(row[0]).split()[0] if row else "?"
                store = Store(name, url, conninfo)
            else:
                if args.sqlite_path:
                    path = Path(args.sqlite_path)
                    if path.exists():
                        progress(f"{path} exists; give a new file for --sqlite-path")
                        return 2
                else:
                    tmpdir = tempfile.mkdtemp(prefix="creditline-bench-")
                    path = Path(tmpdir) / "bench.db"
                store = Store(name, f"sqlite:///{path}", str(path))
            populate(store, n_slots)
            progress(f"checking the raw baseline against the service on {name} ...")
            checks.append(check_raw_baseline(store))
            stores.append(store)

        if args.profile:
            for store in stores:
                print(profile(store, args.profile, args.seconds, args.profile_timer))
                print()
            return 0

        progress(f"starting {n_slots} worker processes ...")
        pool = Pool(n_slots)
        cells: list[Cell] = []
        try:
            for store in stores:
                cells += bench_store(pool, store, args)
                pool.close_store(store.name)
        finally:
            pool.stop()
        meta = {"machine": machine(pg_version), "load": f"{load_at_start} at the start, "}
        meta["load"] += f"{load_average()} at the end"
        print(report(cells, args, meta))
        print()
        print("\n".join(checks))
        print(pricing_report(args.quotes))
        cmd = " ".join(["python bench/ledger.py", *(argv if argv is not None else sys.argv[1:])])
        print(f"\nCommand: {cmd.strip()} (took {time.monotonic() - began:.0f} s)")
        if args.json:
            Path(args.json).write_text(
                json.dumps({"meta": meta, "cells": [c.__dict__ for c in cells]}, indent=1)
            )
        failed = [c for c in cells if c.errors]
        if failed:
            progress(
                f"{sum(c.errors for c in failed):,} transactions failed, first: "
                f"{failed[0].first_error}"
            )
            return 1
        return 0
    finally:
        if "postgresql" in args.stores:
            try:
                drop_postgres(args.postgres_url, database)
            except psycopg.Error as exc:
                progress(f"could not drop {database}: {exc}")
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
