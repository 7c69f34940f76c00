# ruff: noqa: E501  (the generator's SQL reads better one clause a line)
"""The portfolio report on DuckDB at book scale.

Builds a book of N lines in a DuckDB file with the tables and columns the report reads
(`creditline.portfolio.service.SOURCES`), generated set-based and seeded: every line opened in
the two years before the report's date with an application scored A–E, seven in ten with a
loan of three instalments (most paid on time, some late, one in twelve never), a third of
those loans settled, one line in ten frozen by a decision with its notice, a few human
reviews. Then it runs `PortfolioService.report_on` (every figure of the report) in a child
process on that file, and prints the time and the child's peak resident memory, and checks
the exposure against the generator's own sums.

    .venv/bin/python bench/portfolio.py                       # 10,000,000 lines
    .venv/bin/python bench/portfolio.py --lines 1000000
    .venv/bin/python bench/portfolio.py --smoke               # 20,000 lines, in seconds
    .venv/bin/python bench/portfolio.py --lines 10000000 --keep /tmp/book10m.duckdb
    .venv/bin/python bench/portfolio.py --book /tmp/book10m.duckdb   # the report again, no build

`--book` reports on a book built earlier (`--keep`) without building it: on a working copy of
it, so that the kept file stays as built. `--sections` prints each figure's wall and CPU time.

Target (issue 15): the report on 10,000,000 lines in under 60 s on DuckDB (2 cores). It is a
report, not a test: it exits 0 whatever the figures (non-zero only on a broken setup).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import duckdb

from creditline.db.duckdb_book import DuckDBBook
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.loans.products import load_catalogue
from creditline.portfolio.book import grade_dimension, region_dimension
from creditline.portfolio.service import SOURCES, PortfolioService

AS_OF = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
ANALYST = Actor("bench", Role.ANALYST)
CUTOFF = dt.datetime(2026, 11, 30, 16, 0)  # the end of AS_OF in Shanghai, naive UTC
SMOKE_LINES = 20_000
DEFAULT_LINES = 10_000_000
# The shipped CN policy's scorecard scaling: 50:1 at 500 points, doubling every 20.
SCALING = (500, __import__("decimal").Decimal(20), __import__("decimal").Decimal(50))

GENERATE = """
CREATE OR REPLACE TABLE lines AS
SELECT 'L' || i AS id, 'B' || i AS borrower_id, 'CNY' AS currency,
       TIMESTAMP '2024-12-01 02:00:00' + to_days(CAST(i % 729 AS INTEGER)) AS created_at,
       (1 + i % 20) * 100000 AS limit_minor, i
FROM range({lines}) t(i);

CREATE OR REPLACE TABLE loans AS
SELECT 'N' || i AS id, 'L' || i AS line_id, 'CNY' AS currency,
       (1 + i % 20) * 50000 AS principal_minor,
       created_at + INTERVAL 5 DAY AS opened_at,
       CASE WHEN i % 3 = 0 AND i % 729 < 600 THEN created_at + INTERVAL 100 DAY END AS settled_at,
       CAST(created_at + INTERVAL 5 DAY AS DATE) AS start_date, i
FROM lines WHERE i % 10 < 7;

CREATE OR REPLACE TABLE instalments AS
SELECT l.id AS loan_id, k AS number, l.start_date + CAST(30 * k AS INTEGER) AS due_date,
       CASE WHEN l.settled_at IS NOT NULL THEN least(l.start_date + CAST(30 * k AS INTEGER), CAST(l.settled_at AS DATE))
            WHEN l.i % 12 = 5 THEN NULL
            WHEN l.i % 12 = 7 THEN l.start_date + CAST(30 * k AS INTEGER) + 20
            ELSE l.start_date + CAST(30 * k AS INTEGER) END AS paid_on
FROM loans l, range(1, 4) r(k);
DELETE FROM instalments WHERE paid_on > DATE '{as_of}';

-- Joint lending (CN-3): the lender keeps 30 %, a bank funds the rest (rounded down).
CREATE OR REPLACE TABLE loan_funding AS
SELECT id AS loan_id, 'example-bank' AS funder, 7000 AS share_basis_points,
       principal_minor * 7000 // 10000 AS amount_minor FROM loans
UNION ALL
SELECT id, 'lender', 3000, principal_minor - principal_minor * 7000 // 10000 FROM loans;

CREATE OR REPLACE TABLE repayments AS
SELECT id AS loan_id, principal_minor, settled_at AS created_at FROM loans WHERE settled_at IS NOT NULL;

CREATE OR REPLACE TABLE decisions AS
SELECT 'D' || i AS id, 'L' || i AS line_id, 'freeze' AS action,
       '["overdue_payment"]' AS reason_codes,
       '{{"score": ' || (600 + i % 150) || ', "grade": "' || chr(65 + CAST(i % 5 AS INTEGER)) || '"}}' AS evidence,
       created_at + INTERVAL 40 DAY AS created_at
FROM lines WHERE i % 10 = 3;

CREATE OR REPLACE TABLE journal AS
SELECT 'L' || i AS line_id, 1 AS seq, 'open' AS kind, limit_minor AS limit_after_minor,
       0 AS principal_after_minor, 0 AS held_after_minor, 'active' AS status_after,
       NULL AS drawdown_id, NULL AS decision_id, created_at FROM lines
UNION ALL
SELECT l.line_id, 2, 'post', ln.limit_minor, l.principal_minor, 0, 'active', 'W' || l.i, NULL,
       l.opened_at FROM loans l JOIN lines ln ON ln.id = l.line_id
UNION ALL
SELECT d.line_id, 3, 'freeze', ln.limit_minor,
       CASE WHEN ln.i % 10 < 7 THEN (1 + ln.i % 20) * 50000 ELSE 0 END, 0, 'frozen', NULL, d.id,
       d.created_at FROM decisions d JOIN lines ln ON ln.id = d.line_id
UNION ALL
SELECT l.line_id, 4, 'repay', ln.limit_minor, 0, 0,
       CASE WHEN ln.i % 10 = 3 THEN 'frozen' ELSE 'active' END, NULL, NULL, l.settled_at
FROM loans l JOIN lines ln ON ln.id = l.line_id WHERE l.settled_at IS NOT NULL;

CREATE OR REPLACE TABLE applications AS
SELECT 'A' || i AS id, 'L' || i AS line_id, 'approved' AS outcome,
       '{{"score": ' || (580 + i % 200) || ', "grade": "' || chr(65 + CAST(i % 7 % 5 AS INTEGER)) || '"}}' AS evidence,
       CASE WHEN i % 31 > 0 THEN ['CN-SH', 'CN-BJ', 'CN-GD', 'CN-ZJ', 'CN-JS', 'CN-SC'][1 + i % 6] END AS region,
       created_at FROM lines;

CREATE OR REPLACE TABLE reviews AS
SELECT 'R' || i AS id, 'L' || i AS line_id, 'human' AS kind, created_at + INTERVAL 41 DAY AS created_at,
       CASE WHEN i % 2000 < 1500 THEN created_at + INTERVAL 45 DAY END AS decided_at,
       created_at + INTERVAL 56 DAY AS due_at
FROM lines WHERE i % 1000 = 3;

CREATE OR REPLACE TABLE outbox AS
SELECT id AS ref_id, 'notice.adverse_change' AS topic, created_at,
       created_at + to_seconds(CAST(5 + hash(id) % 300 AS BIGINT)) AS delivered_at FROM decisions;

ALTER TABLE lines DROP COLUMN limit_minor; ALTER TABLE lines DROP COLUMN i;
ALTER TABLE loans DROP COLUMN i;
"""


def log(message: str) -> None:
    print(message, flush=True)


def load_average() -> str:
    """Other work on the machine, which the report's time shares it with."""
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def build_book(path: Path, lines: int) -> float:
    started = time.perf_counter()
    connection = duckdb.connect(str(path))
    connection.execute(GENERATE.format(lines=lines, as_of=AS_OF.isoformat()))
    missing = [
        (name, column.name)
        for name, source in SOURCES.items()
        for column in source.selected_columns
        if column.name not in {c[0] for c in connection.execute(f"DESCRIBE {name}").fetchall()}
    ]
    connection.close()
    if missing:
        raise SystemExit(f"the generated book lacks {missing}")
    return time.perf_counter() - started


def cpu_seconds() -> float:
    """This process's CPU time, every thread's: on a shared machine, the work itself."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class SectionTimes:
    """Each figure's wall and CPU time, told by the report's `progress` as the next starts."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self._current: tuple[str, float, float] | None = None

    def __call__(self, name: str | None) -> None:
        now, cpu = time.perf_counter(), cpu_seconds()
        if self._current is not None:
            started_name, started, cpu_started = self._current
            self.times[started_name] = [now - started, cpu - cpu_started]
        self._current = None if name is None else (name, now, cpu)


def run_report(path: Path) -> dict[str, object]:
    """In this (child) process: the whole report on the copy; its time and figures."""
    service = PortfolioService(
        None,
        FixedClock(NOW),
        load_catalogue(),
        lambda currency: SCALING,  # type: ignore[arg-type]
        {"grade": grade_dimension, "region": region_dimension},  # as bootstrap.py has them
    )
    copy = DuckDBBook(path)
    started, cpu_started = time.perf_counter(), cpu_seconds()
    sections = SectionTimes()
    report = service.report_on(ANALYST, copy, AS_OF, "CNY", progress=sections)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    sections(None)
    copy.close()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "lines": report.exposure.lines,
        "limit_minor": report.exposure.limit_minor,
        "drawn_minor": report.exposure.drawn_minor,
        "zero_defects": len(report.zero_available.defects),
        "expected_loss_minor": report.expected_loss_minor,
        "dpd": {b.bucket: b.loans for b in report.dpd_buckets},
        "vintages": len(report.vintages),
        "regions": len(report.concentration["region"]),
        "grades": [
            (g.grade, g.lines, g.matured_lines, g.matured_bad, g.expected_loss_minor)
            for g in report.grades
        ],
        "sections": sections.times,
        # Every figure of the report: equal digests on one book, equal reports.
        "digest": hashlib.sha256(
            json.dumps(asdict(report), default=str, sort_keys=True).encode()
        ).hexdigest()[:16],
    }


def book_lines(path: Path) -> int:
    """How many lines a book built earlier holds."""
    connection = duckdb.connect(str(path), read_only=True)
    found = connection.execute("SELECT count(*) FROM lines").fetchone()
    connection.close()
    assert found is not None
    return int(found[0])


def expected_exposure(path: Path) -> tuple[int, int]:
    """Limits and drawn by the generator's own rule, summed directly."""
    connection = duckdb.connect(str(path), read_only=True)
    found = connection.execute(
        "WITH before AS (SELECT * FROM journal WHERE created_at < ?) "
        "SELECT sum(limit_after_minor), sum(principal_after_minor) FROM before j "
        "WHERE seq = (SELECT max(seq) FROM before k WHERE k.line_id = j.line_id)",
        [CUTOFF],
    ).fetchone()
    connection.close()
    assert found is not None
    return int(found[0]), int(found[1])


def report_in_child(path: Path, lines: int, show_sections: bool) -> None:
    """The report in a child process on the book at `path`; its figures and times."""
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    peak_gib = figures.pop("peak_rss_kib") / 2**20
    seconds, cpu = figures.pop("seconds"), figures.pop("cpu_seconds")
    cores = os.cpu_count() or 1
    log(
        f"portfolio report, {lines:,} lines on DuckDB: {seconds:.2f} s, "
        f"{lines / seconds:,.0f} lines/s, peak RSS {peak_gib:.2f} GiB; "
        f"CPU {cpu:.1f} s ({cpu / cores:.1f} s over {cores} cores)"
    )
    sections = figures.pop("sections")
    if show_sections:
        for name, (wall, cpu_section) in sections.items():
            log(f"  {name:<24} {wall:7.2f} s wall {cpu_section:7.2f} s CPU")
    log(f"figures: {json.dumps(figures)}")
    log(f"load average after: {load_average()}")
    limit, drawn = expected_exposure(path)
    same = (figures["limit_minor"], figures["drawn_minor"]) == (limit, drawn)
    log(f"exposure against the generator's sums: {'[MATCH]' if same else '[MISMATCH]'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES)
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_LINES:,} lines")
    parser.add_argument("--keep", type=Path, default=None, help="keep the book in this file")
    parser.add_argument("--book", type=Path, default=None, help="report on this book, no build")
    parser.add_argument("--sections", action="store_true", help="each figure's times")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(run_report(args.child)))
        return 0
    log(
        f"machine: {os.cpu_count()} cores, {platform.python_version()}, duckdb {duckdb.__version__}"
    )
    log(f"load average (1, 5, 15 min): {load_average()}")
    with tempfile.TemporaryDirectory(prefix="creditline-bench-") as directory:
        if args.book is not None:
            # A working copy: the report's session may write to the file it opens.
            path = Path(directory) / "book.duckdb"
            shutil.copyfile(args.book, path)
            lines = book_lines(path)
            log(f"book of {lines:,} lines from {args.book} ({path.stat().st_size / 2**30:.2f} GiB)")
        else:
            lines = SMOKE_LINES if args.smoke else args.lines
            path = args.keep or Path(directory) / "book.duckdb"
            path.unlink(missing_ok=True)
            built = build_book(path, lines)
            log(
                f"book of {lines:,} lines built in {built:.1f} s ({path.stat().st_size / 2**30:.2f} GiB)"
            )
        report_in_child(path, lines, args.sections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
