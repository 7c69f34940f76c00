"""End of day at book scale, and quote throughput.

Loads a book of open loans straight into PostgreSQL (server-side `generate_series`: equal-
principal schedules at 12% a year, terms of 3, 6 and 12 months, drawn over the past year, one
loan in ten behind on its payments), then closes one business date with `EndOfDay.run_day`
and reports loans/s, next to a raw SQL UPDATE that touches the same rows once (the floor for
any per-loan write). A sample of loans is checked against the pure model (`arrears.end_of_day`)
so the figure is for work done right. Then it prices quotes in-process (schedule + APR by
both methods) and reports quotes/s.

    .venv/bin/python bench/eod.py                      # 1,000,000 loans (target: < 60 s)
    .venv/bin/python bench/eod.py --loans 100000 --quotes 500
    .venv/bin/python bench/eod.py --smoke              # 2,000 loans, in seconds (the tests)

It works in its own database beside `--postgres-url`'s, dropped at the end. It is a report,
not a test: it exits 0 whatever the figures (non-zero only on a broken setup).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from creditline.db.engine import make_engine, normalise_url
from creditline.db.migrate import upgrade
from creditline.db.unit_of_work import Database
from creditline.kernel.clock import FixedClock
from creditline.kernel.money import Money, format_minor
from creditline.loans import arrears, model
from creditline.loans.eod import EndOfDay
from creditline.loans.products import load_catalogue
from creditline.loans.quote import product_quote
from creditline.loans.store import LoanStore

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "creditline_bench_eod"
SMOKE_LOANS, SMOKE_QUOTES = 2_000, 50
TARGET_SECONDS = 60.0
BUSINESS_DATE = dt.date(2026, 11, 28)
LOANS_PER_LINE = 4
SAMPLE = 300

# One statement per table; `n` numbers the loans, `d` is the business date.
_LOAD = [
    """
    INSERT INTO lines (id, borrower_id, currency, limit_minor, principal_outstanding_minor,
        held_minor, status, version, head_hash, created_at, updated_at)
    SELECT format('00000000-0000-7000-8000-%s', lpad(g::text, 12, '0')), 'bench-' || g, 'CNY',
        100000000000, 0, 0, 'active', 1, repeat('0', 64), now(), now()
    FROM generate_series(1, :lines) g
    """,
    """
    CREATE TEMP TABLE bench_loans AS
    SELECT n,
        format('00000000-0000-7000-9000-%s', lpad(n::text, 12, '0')) AS id,
        format('00000000-0000-7000-8000-%s', lpad(((n - 1) / :per_line + 1)::text, 12, '0'))
            AS line_id,
        format('00000000-0000-7000-a000-%s', lpad(n::text, 12, '0')) AS drawdown_id,
        (100000 + (n * 7919) % 900000)::bigint AS principal,
        (ARRAY[3, 6, 12])[n % 3 + 1] AS term,
        :d - ((n * 104729) % ((ARRAY[3, 6, 12])[n % 3 + 1] * 30 - 2))::int AS start_date,
        n % 10 = 0 AS behind
    FROM generate_series(1::bigint, :loans) n
    """,
    """
    INSERT INTO drawdowns (id, line_id, amount_minor, term_months, status, expires_at,
        created_at, resolved_at, posted_minor, loan_id, product, method)
    SELECT drawdown_id, line_id, principal, term, 'posted', now(), now(), now(), principal, id,
        'bench', 'equal_principal'
    FROM bench_loans
    """,
    """
    CREATE TEMP TABLE bench_instalments AS
    SELECT b.id AS loan_id, k AS number,
        (b.start_date + make_interval(months => k))::date AS due_date,
        CASE WHEN k < b.term THEN round(b.principal::numeric / b.term)::bigint
             ELSE b.principal - (b.term - 1) * round(b.principal::numeric / b.term)::bigint
        END AS principal_minor,
        round((b.principal - (k - 1) * round(b.principal::numeric / b.term))::numeric * 0.12
            * ((b.start_date + make_interval(months => k))::date
               - (b.start_date + make_interval(months => k - 1))::date) / 365)::bigint
            AS interest_minor,
        b.behind
    FROM bench_loans b, generate_series(1, b.term) k
    """,
    """
    INSERT INTO loans (id, line_id, drawdown_id, currency, principal_minor,
        principal_outstanding_minor, term_months, status, opened_at, product, method,
        rate_kind, rate, day_count_basis, start_date, apr_percent, upfront_fee_minor,
        instalment_fee_minor, late_fee_minor, penalty_rate, penalty_basis_days, grace_days,
        waterfall, overpayment, timezone, eod_date)
    SELECT b.id, b.line_id, b.drawdown_id, 'CNY', b.principal,
        b.principal - COALESCE(paid.amount, 0), b.term, 'open', now(), 'bench',
        'equal_principal', 'annual', '0.12', 365, b.start_date, '12.00', 0, 0, 2000, '0.18',
        365, 3, 'penalty,fees,interest,principal_due,prepayment', 'refund', 'Asia/Shanghai',
        :d - 1
    FROM bench_loans b
    LEFT JOIN (
        SELECT loan_id, sum(principal_minor) AS amount FROM bench_instalments
        WHERE due_date < :d AND NOT behind GROUP BY loan_id
    ) paid ON paid.loan_id = b.id
    """,
    """
    INSERT INTO instalments (loan_id, number, due_date, principal_minor, interest_minor,
        fee_minor, late_fee_minor, paid_principal_minor, paid_interest_minor, paid_fee_minor,
        paid_late_fee_minor)
    SELECT loan_id, number, due_date, principal_minor, interest_minor, 0, 0,
        CASE WHEN due_date < :d AND NOT behind THEN principal_minor ELSE 0 END,
        CASE WHEN due_date < :d AND NOT behind THEN interest_minor ELSE 0 END, 0, 0
    FROM bench_instalments
    """,
    """
    UPDATE lines l SET principal_outstanding_minor = t.outstanding
    FROM (SELECT line_id, sum(principal_outstanding_minor) AS outstanding FROM loans
          GROUP BY line_id) t
    WHERE t.line_id = l.id
    """,
]
# The floor: one plain write to every row end of day writes.
_RAW_UPDATE = """
UPDATE loans SET interest_accrued_minor = interest_accrued_minor + 0, eod_date = :d
WHERE status = 'open' AND start_date <= :d AND (eod_date IS NULL OR eod_date < :d)
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def scratch_database(base_url: str) -> Iterator[str]:
    """A new empty database beside `base_url`'s (named with the pid, so that runs side by side
    stay apart), dropped afterwards; its URL."""
    admin_url = make_url(normalise_url(base_url))
    name = f"{BENCH_DATABASE}_{os.getpid()}"
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


def load_book(url: str, loans: int) -> float:
    engine = make_engine(url)
    upgrade(engine)
    began = time.perf_counter()
    params = {
        "loans": loans,
        "lines": (loans + LOANS_PER_LINE - 1) // LOANS_PER_LINE,
        "per_line": LOANS_PER_LINE,
        "d": BUSINESS_DATE,
    }
    with engine.begin() as connection:
        for statement in _LOAD:
            connection.execute(text(statement), params)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - began


def sample_states(db: Database, ids: list[str]) -> dict[str, model.LoanState]:
    store = LoanStore(db)

    def read(tx: object) -> dict[str, model.LoanState]:
        found = {loan_id: store.load(tx, loan_id) for loan_id in ids}  # type: ignore[arg-type]
        return {k: v for k, v in found.items() if v is not None}

    return db.read(read)


def bench_eod(url: str, loans: int) -> dict[str, float]:
    engine = make_engine(url)
    db = Database(engine)
    clock = FixedClock(dt.datetime.combine(BUSINESS_DATE, dt.time(18), dt.UTC))
    rng = random.Random(42)
    sample_ids = [
        f"00000000-0000-7000-9000-{n:012d}" for n in rng.sample(range(1, loans + 1), SAMPLE)
    ]
    before = sample_states(db, sample_ids)
    eod = EndOfDay(db, clock, [ZoneInfo("UTC")])
    began = time.perf_counter()
    result = eod.run_day(BUSINESS_DATE)
    seconds = time.perf_counter() - began
    after = sample_states(db, sample_ids)
    wrong = [i for i in sample_ids if arrears.end_of_day(before[i], BUSINESS_DATE) != after[i]]
    with engine.connect() as connection:
        overdue, penalty = connection.execute(
            text("SELECT count(*) FILTER (WHERE dpd > 0), sum(penalty_minor) FROM loans")
        ).one()
    # The raw floor on the same rows: the next day, one plain UPDATE.
    with engine.begin() as connection:
        raw_began = time.perf_counter()
        touched = connection.execute(
            text(_RAW_UPDATE), {"d": BUSINESS_DATE + dt.timedelta(days=1)}
        ).rowcount
        raw_seconds = time.perf_counter() - raw_began
    engine.dispose()
    return {
        "loans": result.loans_processed,
        "seconds": seconds,
        "loans_per_second": result.loans_processed / seconds,
        "raw_seconds": raw_seconds,
        "raw_rows": touched,
        "sample": len(sample_ids),
        "sample_wrong": len(wrong),
        "overdue": overdue,
        "penalty_minor": int(penalty or 0),
    }


def bench_quotes(count: int) -> float:
    product = load_catalogue().product("cn-standard")
    principal = Money.parse("12000.00", "CNY")
    start = dt.date(2026, 1, 31)
    product_quote(product, principal, 12, None, start)  # warm up
    began = time.perf_counter()
    for n in range(count):
        term = product.terms[n % len(product.terms)]
        product_quote(product, principal, term, None, start)
    return count / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--quotes", type=int, default=2_000)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--smoke", action="store_true", help=f"{SMOKE_LOANS:,} loans, {SMOKE_QUOTES} quotes"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.loans, args.quotes = SMOKE_LOANS, SMOKE_QUOTES

    with scratch_database(args.postgres_url) as url:
        log(f"loading {args.loans:,} open loans into {make_url(url).database} …")
        load_seconds = load_book(url, args.loans)
        log(f"loaded in {load_seconds:.1f} s; closing {BUSINESS_DATE} …")
        figures = bench_eod(url, args.loans)
    log("pricing quotes …")
    quotes_per_second = bench_quotes(args.quotes)

    verdict = "PASS" if figures["seconds"] < TARGET_SECONDS else "MISS"
    ratio = figures["seconds"] / figures["raw_seconds"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"book: {figures['loans']:,} open loans; load {load_seconds:.1f} s")
    print(
        f"end of day {BUSINESS_DATE}: {figures['seconds']:.2f} s, "
        f"{figures['loans_per_second']:,.0f} loans/s  [{verdict} target < {TARGET_SECONDS:.0f} s]"
    )
    print(
        f"raw UPDATE of the same {figures['raw_rows']:,} rows: {figures['raw_seconds']:.2f} s; "
        f"end of day / raw = {ratio:.1f}x"
    )
    print(
        f"overdue after the run: {figures['overdue']:,} loans, penalty charged "
        f"{format_minor(int(figures['penalty_minor']), 'CNY')} CNY"
    )
    print(
        f"pure-model check on {figures['sample']} sampled loans: {figures['sample_wrong']} differ"
    )
    print(f"quotes (schedule + APR, actuarial and daily): {quotes_per_second:,.0f} quotes/s")
    print(f"\nCommand: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
