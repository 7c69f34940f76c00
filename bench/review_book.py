"""The periodic review of a whole book on PostgreSQL, end to end as `creditline review` runs it.

Builds the application (`creditline.bootstrap.build`, review triggers off) on a fresh
PostgreSQL database, with a fixed clock, and loads a book of N lines through the services, in
threads: a line per borrower (`LedgerService.open_line`, or for a fraction of borrowers an
application through `Underwriting.apply`, which opens and grants the line), drawdowns for a
fraction of them (`place_hold` + `post_drawdown`; a few draw five times in the day, which the
drawdown-velocity rule freezes), and a bureau report for a fraction (consent, then
`BureauService.load_report`; one report in four names five or more lenders, which the
multi-lender rule cuts). Every line opened today, so the policy's cool-down rules out
increases: the changes are cuts and freezes. Then `VACUUM ANALYZE` (as autovacuum would) and
a `CHECKPOINT`, so that the review does not pay for writing out the load.

Then it copies the database, and reviews the copy with one change to a transaction (the path
before chunks: `review_book(chunk=1)`), for the ratio in the same run. Then it times the
review's three parts on their own, by calling what `review_book` calls:
reading the features (`book_features` in one `Database.reading()` transaction, split into the
ledger query, bureau reports and applications, with the statements it sent), deciding
(`changes_in_duckdb` as the review calls it; then `decide_batch`, every line's `Decision`,
split into DuckDB and building the `Decision`s), and
then `DecisionService.review_book` end to end; applying is the remainder (end to end minus
features minus deciding), and is also measured inside the run by wrapping the service's
`_apply_chunk` (one transaction of changes), its `_chunk_reads` (keys, announcements, lines
locked by the ledger port's `lock_many`, reports on file: one statement each a chunk) and the
port's `decide` on their instances (a few µs a call).
Last, the review again an hour later the same business day: changes already made are not made
again (outcome `decided_today`).

    .venv/bin/python bench/review_book.py                    # 20,000 lines
    .venv/bin/python bench/review_book.py --lines 2000       # a quick check
    .venv/bin/python bench/review_book.py --smoke            # 150 lines, in seconds (the tests)
    .venv/bin/python bench/review_book.py --explain --keep   # + the features query's plan

It prints the load time, lines/s of each part and of the whole, the outcome counts
`review_book` returns, and the second run. It is a report, not a test: it exits 0 whatever the
figures (non-zero only on a broken setup). The database `creditline_bench_review_<pid>` is
dropped at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from uncapped import uncapped_products

from creditline.bootstrap import Container, build
from creditline.config import Settings, shipped_policy_file
from creditline.db.engine import normalise_url
from creditline.decisions.applications import Application
from creditline.decisions.batch import BATCH_LINES, changes_in_duckdb, decide_batch
from creditline.decisions.book import book_features, chunks
from creditline.decisions.bureau import StoredReports
from creditline.decisions.declared import application_features
from creditline.decisions.engine import features_table_sql, load_features
from creditline.decisions.service import APPLY_CHUNK, APPLY_WORKERS
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.ledger.ports import line_facts
from creditline.loans.ports import repayment_facts

POLICY = shipped_policy_file()
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "creditline_bench_review"
# 10:00 in Shanghai (the policy's lender): load, review at 12:00, again at 13:00, one day.
LOADED_AT = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
REVIEWED_AT = LOADED_AT + dt.timedelta(hours=2)
REVIEWED_AGAIN_AT = LOADED_AT + dt.timedelta(hours=3)
AGENT = Actor("bench", Role.AGENT)
LIMITS = ("5000.00", "10000.00", "20000.00", "50000.00")
EMPLOYMENT = ("employed", "employed", "employed", "self_employed", "retired", "student")
TERMS = (3, 6, 12)
SMOKE_LINES, SMOKE_WORKERS = 150, 2


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fresh_database(base_url: str, name: str) -> tuple[str, str]:
    """A new empty database `name` beside `base_url`'s; (its URL, the admin URL)."""
    admin_url = make_url(normalise_url(base_url))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    return url, admin_url.render_as_string(hide_password=False)


def copy_database(admin_url: str, source: str, name: str) -> str:
    """A copy `name` of the database `source` (nobody may be connected to it); its URL."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# --- loading the book through the services ------------------------------------------------


@dataclass
class BookMix:
    applied: float  # borrowers who apply (underwriting opens their line)
    drawing: float  # borrowers with one or two drawdowns
    velocity: float  # borrowers with five drawdowns today (drawdown-velocity freeze)
    bureau: float  # borrowers with a bureau report (one in four: five or more lenders)


@dataclass
class Loaded:
    kinds: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, *kinds: str) -> None:
        with self.lock:
            self.kinds.update(kinds)


def load_borrower(c: Container, n: int, mix: BookMix, seed: int, loaded: Loaded) -> None:
    rng = random.Random(f"{seed}-{n}")
    borrower_id = f"bench-{n:08d}"
    borrower = Actor(borrower_id, Role.BORROWER)
    line_id = None
    if rng.random() < mix.applied:
        application = Application(
            borrower_id=borrower_id,
            currency="CNY",
            income_monthly=f"{rng.randrange(3000, 30000)}.00",
            income_evidence=True,
            income_evidence_expires_on=LOADED_AT.date() + dt.timedelta(days=rng.randrange(30, 365)),
            birth_date=dt.date(rng.randrange(1960, 2004), rng.randrange(1, 13), 15),
            employment=rng.choice(EMPLOYMENT),
        )
        applied = c.underwriting.apply(AGENT, f"apply-{borrower_id}", application).document
        line_id = applied["line_id"]
        loaded.count("applications", f"applications {applied['outcome']}")
    if line_id is None:
        limit = rng.choice(LIMITS)
        opened = c.ledger.open_line(AGENT, f"open-{borrower_id}", borrower_id, "CNY", limit)
        line_id = opened.document["id"]
    loaded.count("lines")
    limit_minor = int(c.ledger.get_line(borrower, line_id)["limit"].replace(".", ""))
    draws = 0
    roll = rng.random()
    if roll < mix.velocity:
        draws = 5
    elif roll < mix.velocity + mix.drawing:
        draws = rng.choice((1, 1, 2))
    for k in range(draws):
        # Five draws of 2-5 % each, or one or two of 10-45 % each: all within the limit.
        share = rng.uniform(0.02, 0.05) if draws == 5 else rng.uniform(0.10, 0.45)
        amount = max(100, int(limit_minor * share) // 100) // 100 * 100
        hold = c.ledger.place_hold(
            borrower, f"hold-{borrower_id}-{k}", line_id, f"{amount}.00", rng.choice(TERMS)
        )
        c.loans.post_drawdown(borrower, f"post-{borrower_id}-{k}", hold.document["id"])
        loaded.count("drawdowns")
    if draws == 5:
        loaded.count("lines drawing 5 times")
    if rng.random() < mix.bureau:
        c.bureau.record_consent(borrower, f"consent-{borrower_id}", borrower_id)
        lenders = rng.randrange(5, 8) if rng.random() < 0.25 else rng.randrange(0, 5)
        c.bureau.load_report(
            AGENT,
            f"report-{borrower_id}",
            {
                "borrower_id": borrower_id,
                "reported_at": LOADED_AT,  # the consent's own instant: a pull at or after it
                "lenders_with_open_loans": lenders,
                "inquiries_1m": rng.randrange(0, 3),
                "inquiries_3m": rng.randrange(0, 6),
                "inquiries_6m": rng.randrange(0, 9),
                "other_limits_minor": rng.randrange(0, 20_000_000),
                "bureau_score": rng.randrange(450, 850),
            },
        )
        loaded.count("bureau reports", *(["reports of 5+ lenders"] if lenders >= 5 else []))


def load_book(c: Container, lines: int, mix: BookMix, workers: int, seed: int) -> Loaded:
    loaded = Loaded()
    done = 0
    step = max(1, lines // 10)
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(load_borrower, c, n, mix, seed, loaded) for n in range(lines)]
        for future in futures:
            future.result()  # a failure stops the bench: the setup is broken
            done += 1
            if done % step == 0:
                log(f"  {done:,} of {lines:,} borrowers")
    with c.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
        # Settle the store as a book is before its periodic review: no load's dirty pages
        # left to write out while the review runs (without it the first review took ~45 %
        # longer here: 16.7 s, not 11.5 s for 20,000 lines).
        connection.execute(text("CHECKPOINT"))
    return loaded


# --- the review's parts ---------------------------------------------------------------------


@contextmanager
def statements(c: Container) -> Iterator[list[tuple[str, Any, float]]]:
    """Every statement sent through SQLAlchemy connections meanwhile: (sql, parameters, s).
    (Commands run on the driver alone and are not seen: only reads are.)"""
    sent: list[tuple[str, Any, float]] = []
    started: dict[int, float] = {}

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters, time.perf_counter() - started.pop(id(cursor))))

    event.listen(c.db.engine, "before_cursor_execute", before)
    event.listen(c.db.engine, "after_cursor_execute", after)
    try:
        yield sent
    finally:
        event.remove(c.db.engine, "before_cursor_execute", before)
        event.remove(c.db.engine, "after_cursor_execute", after)


def time_features(c: Container, now: dt.datetime) -> dict[str, Any]:
    """`book_features` as review_book calls it, then its three reads one by one."""
    engine = c.decisions.engine
    today = engine.policy.business_date(now)
    bureau = StoredReports()
    with statements(c) as sent:
        began = time.perf_counter()
        with c.db.reading() as connection:
            book = book_features(connection, now, today, bureau)
        seconds = time.perf_counter() - began
    with c.db.reading() as connection:
        t0 = time.perf_counter()
        line_facts(connection, now)
        repayment_facts(connection, today)
        t1 = time.perf_counter()
        # The whole book's borrowers, read unfiltered as `book_features` reads them.
        reports = bureau.latest(connection, None)
        t2 = time.perf_counter()
        declared = application_features(connection, None, now, today)
        t3 = time.perf_counter()
    by_statement: dict[str, list[float]] = {}
    for sql, _, spent in sent:
        by_statement.setdefault(sql, []).append(spent)
    slowest = max(sent, key=lambda s: s[2]) if sent else None
    return {
        "book": book,
        "seconds": seconds,
        "ledger": t1 - t0,
        "bureau": t2 - t1,
        "applications": t3 - t2,
        "reports": len(reports),
        "declared": len(declared),
        "statements": len(sent),
        "statement_seconds": sum(s[2] for s in sent),
        "by_statement": by_statement,
        "slowest": slowest,
    }


def time_decide(c: Container, book: list[dict[str, Any]]) -> dict[str, Any]:
    """`changes_in_duckdb` as review_book calls it (no trials running: the changes' decisions
    only); `decide_batch` over the same batches (every line's decision, the path before);
    then that again split into DuckDB's part (load, query, fetch) and building the
    `Decision`s in Python."""
    engine = c.decisions.engine
    began = time.perf_counter()
    kept = sum(k for _, k in changes_in_duckdb(engine, book))
    changes_seconds = time.perf_counter() - began
    began = time.perf_counter()
    decided = [d for batch in chunks(book, BATCH_LINES) for d in decide_batch(engine, batch)]
    seconds = time.perf_counter() - began
    in_duckdb = in_python = 0.0
    for batch in chunks(book, BATCH_LINES):
        t0 = time.perf_counter()
        connection = duckdb.connect(":memory:")
        connection.execute(features_table_sql())
        load_features(connection, batch)
        relation = engine.decide_table(connection)
        names = relation.columns
        rows = relation.fetchall()
        t1 = time.perf_counter()
        for values in rows:
            engine.decision(dict(zip(names, values, strict=True)))
        t2 = time.perf_counter()
        connection.close()
        in_duckdb += t1 - t0
        in_python += t2 - t1
    return {
        "seconds": changes_seconds,
        "every_line": seconds,
        "kept": kept,
        "duckdb": in_duckdb,
        "python": in_python,
        "actions": Counter(d.action for d in decided),
    }


@dataclass
class Timer:
    calls: int = 0
    seconds: float = 0.0
    failed: int = 0


def wrap(owner: Any, name: str, timer: Timer) -> Callable[[], None]:
    """Time `owner.name(...)` through an instance attribute; returns the undo."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        except Exception:
            timer.failed += 1
            raise
        finally:
            timer.calls += 1
            timer.seconds += time.perf_counter() - began

    setattr(owner, name, timed)
    return lambda: delattr(owner, name)


def time_review(c: Container, chunk: int = APPLY_CHUNK) -> dict[str, Any]:
    """`review_book` end to end, with `_apply_chunk`, `_chunk_reads` and the ledger port's
    `lock_many` and `decide` timed inside."""
    timers = {"apply": Timer(), "reads": Timer(), "lock": Timer(), "decide": Timer()}
    undo = [
        wrap(c.decisions, "_apply_chunk", timers["apply"]),
        wrap(c.decisions, "_chunk_reads", timers["reads"]),
        wrap(c.ledger.port, "lock_many", timers["lock"]),
        wrap(c.ledger.port, "decide", timers["decide"]),
    ]
    batches: list[float] = []
    began, cpu_began = time.perf_counter(), time.process_time()

    def progress(done: int, total: int) -> None:
        batches.append(time.perf_counter() - began)
        log(f"  reviewed {done:,} of {total:,} lines ({batches[-1]:.1f} s)")

    try:
        outcomes = c.decisions.review_book(progress, chunk=chunk)
    finally:
        for step in undo:
            step()
    return {
        "seconds": time.perf_counter() - began,
        "cpu_seconds": time.process_time() - cpu_began,  # this process's, every thread's
        "outcomes": outcomes,
        "timers": timers,
    }


def explain(c: Container, statement: str, parameters: Any) -> list[str]:
    with c.db.reading() as connection:
        rows = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
        ).all()
    return [row[0] for row in rows]


def rate(lines: int, seconds: float) -> str:
    return f"{lines / seconds:,.0f} lines/s" if seconds > 0 else "-"


def short(sql: str, width: int = 90) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def counts(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in outcomes.items()) or "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=6, help="threads loading the book")
    parser.add_argument("--applied", type=float, default=0.10, help="share opened by applying")
    parser.add_argument("--drawing", type=float, default=0.30, help="share with 1-2 drawdowns")
    parser.add_argument("--velocity", type=float, default=0.02, help="share drawing 5 times")
    parser.add_argument("--bureau", type=float, default=0.40, help="share with a bureau report")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--explain", action="store_true", help="print the slowest read's plan")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--smoke", action="store_true", help=f"{SMOKE_LINES} lines, {SMOKE_WORKERS} threads"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.lines, args.workers = SMOKE_LINES, SMOKE_WORKERS
    mix = BookMix(args.applied, args.drawing, args.velocity, args.bureau)

    # The pid keeps runs side by side (two checkouts, CI and a developer) apart.
    database = f"{BENCH_DATABASE}_{os.getpid()}"
    url, admin_url = fresh_database(args.postgres_url, database)
    clock = FixedClock(LOADED_AT)
    # The book is loaded as one migrated from before the caps (staff-opened lines with no
    # income on file); it is reviewed under the shipped profiles' caps.
    loading = Settings(
        database_url=url,
        policy_file=POLICY,
        review_triggers=False,
        products_file=uncapped_products(),
    )
    container = build(loading, clock, migrate=True)
    try:
        log(f"loading {args.lines:,} borrowers into {database} ({args.workers} threads) …")
        began = time.perf_counter()
        loaded = load_book(container, args.lines, mix, args.workers, args.seed)
        load_seconds = time.perf_counter() - began
        container.close()
        # The same book again, for the same review one change to a transaction (the path
        # before chunks), in this run.
        alone_url = copy_database(admin_url, database, f"{database}_alone")
        container = build(
            Settings(database_url=url, policy_file=POLICY, review_triggers=False),
            clock,
            migrate=False,
        )

        clock.set(REVIEWED_AT)
        log("reading features …")
        features = time_features(container, REVIEWED_AT)
        book = features.pop("book")
        log("deciding …")
        decide = time_decide(container, book)
        log("review_book, one change to a transaction, on the copy …")
        alone_container = build(
            Settings(database_url=alone_url, policy_file=POLICY, review_triggers=False),
            clock,
            migrate=False,
        )
        try:
            alone = time_review(alone_container, chunk=1)
        finally:
            alone_container.close()
            drop_database(admin_url, f"{database}_alone")
        log(f"review_book, {APPLY_CHUNK} changes to a transaction …")
        first = time_review(container)
        clock.set(REVIEWED_AGAIN_AT)
        log("review_book again, an hour later …")
        second = time_review(container)
        plan = explain(container, *features["slowest"][:2]) if args.explain else []

        n = len(book)
        apply_seconds = first["seconds"] - features["seconds"] - decide["seconds"]
        timers = first["timers"]
        changes = timers["decide"]
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
        with container.db.reading() as connection:
            version = connection.execute(text("SHOW server_version")).scalar()
        print(
            f"PostgreSQL {version}; DuckDB {duckdb.__version__}; "
            f"policy {container.decisions.engine.compiled.label}"
        )
        print(
            f"book: {loaded.kinds['lines']:,} lines "
            f"({counts({k: v for k, v in sorted(loaded.kinds.items()) if k != 'lines'})}); "
            f"load through the services {load_seconds:.1f} s with {args.workers} threads "
            f"({loaded.kinds['lines'] / load_seconds:,.0f} borrowers/s)"
        )
        print(f"\nreview_book at {REVIEWED_AT:%Y-%m-%d %H:%M} UTC, {n:,} reviewable lines:")
        print(
            f"  end to end: {first['seconds']:.2f} s, {rate(n, first['seconds'])} "
            f"({APPLY_CHUNK} changes to a transaction, {APPLY_WORKERS} transactions at a time)"
        )
        print(
            f"  CPU of this process: {first['cpu_seconds']:.2f} s, "
            f"{first['cpu_seconds'] / n * 1e6:,.0f} µs a line; load average "
            f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        print(f"  outcomes: {counts(first['outcomes'])}")
        print(
            f"  the same book, one change to a transaction: {alone['seconds']:.2f} s, "
            f"{rate(n, alone['seconds'])}; chunks / one a transaction = "
            f"{alone['seconds'] / first['seconds']:.2f}x the speed "
            f"[{'SAME OUTCOMES' if alone['outcomes'] == first['outcomes'] else 'MISMATCH'}]"
        )
        print("  its parts, timed on their own:")
        share = 100 / first["seconds"]
        print(
            f"    features (book_features): {features['seconds']:.2f} s, "
            f"{rate(n, features['seconds'])}, {features['seconds'] * share:.0f} % — ledger "
            f"query {features['ledger']:.2f} s, bureau reports {features['bureau']:.2f} s "
            f"({features['reports']:,} borrowers), applications "
            f"{features['applications']:.2f} s ({features['declared']:,} borrowers)"
        )
        print(
            f"      {features['statements']:,} statements, {features['statement_seconds']:.2f} s "
            f"in the driver; the most sent:"
        )
        ranked = sorted(features["by_statement"].items(), key=lambda kv: -sum(kv[1]))
        for sql, spent in ranked[:4]:
            print(f"        {len(spent):>6,} × {sum(spent):6.2f} s  {short(sql)}")
        print(
            f"    deciding (changes_in_duckdb, batches of {BATCH_LINES:,}): "
            f"{decide['seconds']:.2f} s, {rate(n, decide['seconds'])}, "
            f"{decide['seconds'] * share:.0f} %, {decide['kept']:,} kept without a Decision"
        )
        print(
            f"      every line's Decision (decide_batch, the path before): "
            f"{decide['every_line']:.2f} s — DuckDB (load, query, fetch) "
            f"{decide['duckdb']:.2f} s, Decision objects {decide['python']:.2f} s; "
            f"actions {counts(dict(sorted(decide['actions'].items())))}"
        )
        print(
            f"    applying (the remainder): {apply_seconds:.2f} s, {rate(n, apply_seconds)}, "
            f"{apply_seconds * share:.0f} %"
        )
        print("  applying, measured inside the run:")
        print(
            f"    _apply_chunk: {timers['apply'].calls:,} chunks (one transaction each, "
            f"{APPLY_WORKERS} at a time), {timers['apply'].seconds:.2f} s; "
            f"the chunks' reads {timers['reads'].seconds:.2f} s, of which "
            f"lock_many {timers['lock'].calls:,} calls, {timers['lock'].seconds:.2f} s; "
            f"decide {changes.calls:,} calls ({changes.failed:,} refused), "
            f"{changes.seconds:.2f} s"
        )
        if changes.calls:
            per_change = (timers["reads"].seconds + changes.seconds) / changes.calls * 1000
            print(
                f"    per change: {per_change:.2f} ms (its share of the reads + decide), "
                f"{changes.calls / max(timers['apply'].seconds, 1e-9):,.0f} changes/s in chunks"
            )
        print(
            f"\nreview_book again at {REVIEWED_AGAIN_AT:%H:%M} UTC, the same business day: "
            f"{second['seconds']:.2f} s, {rate(n, second['seconds'])}; first / second = "
            f"{first['seconds'] / second['seconds']:.2f}x"
        )
        print(f"  outcomes: {counts(second['outcomes'])}")
        again = second["timers"]
        print(
            f"  decide {again['decide'].calls:,} calls "
            f"({again['decide'].failed:,} refused), {again['decide'].seconds:.2f} s; "
            f"the chunks' reads {again['reads'].seconds:.2f} s"
        )
        if plan:
            print(f"\nplan of the slowest read ({short(features['slowest'][0], 60)}):")
            for line in plan:
                print(f"  {line}")
    finally:
        container.close()
        if args.keep:
            log(f"kept database {database}")
        else:
            drop_database(admin_url, database)
    print(f"\nCommand: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
