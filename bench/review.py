"""Book-wide review on DuckDB, and single decisions in-process.

Builds a features table of N lines in a DuckDB file (random but realistic features, seeded),
then runs the compiled policy over all of it, writing every line's action, new limit and
reason codes to a table, and reports lines/s. Then decides single lines in-process
(`Engine.decide`) and reports p50/p99 latency. With `--memory-lines` it also runs the review
of that many lines in a child process and reports its peak resident memory.

    .venv/bin/python bench/review.py                          # 1,000,000 lines
    .venv/bin/python bench/review.py --lines 200000 --memory-lines 0

Targets (issue 4): >= 1,000,000 lines/s on 2 cores; single decision p50 <= 1 ms, p99 <= 5 ms;
peak memory for 10,000,000 lines <= 2 GiB. It is a report, not a test: it exits 0 whatever
the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from creditline.decisions.engine import FEATURE_COLUMNS, Engine, features_table_sql
from creditline.decisions.policy import load_policy

POLICY = Path(__file__).parents[1] / "policies" / "cn-standard.yaml"
TARGET_LINES_PER_SECOND = 1_000_000
TARGET_P50_MS, TARGET_P99_MS = 1.0, 5.0
TARGET_PEAK_GIB = 2.0

# Features drawn per line: mostly good borrowers, a tail of risky ones, some unknowns.
_GENERATE = """
INSERT INTO features
SELECT
    'line-' || i,
    (1 + floor(random() * 500)::BIGINT) * 10000,                         -- limit_minor
    NULL, NULL,                                                            -- used, utilisation
    floor(random() * random() * 6)::BIGINT,                                -- drawdowns_7d
    floor(random() * 8)::BIGINT, floor(random() * 15)::BIGINT,             -- 30d, 90d
    floor(random() * random() * 8)::BIGINT, floor(random() * 10)::BIGINT,  -- applications
    floor(random() * 2)::BIGINT, floor(random() * 3)::BIGINT,              -- increase requests
    CASE WHEN random() < 0.1 THEN NULL ELSE 0.6 + random() * 0.4 END,      -- on_time_ratio
    CASE WHEN random() < 0.85 THEN 0 ELSE floor(random() * 120)::BIGINT END,  -- max_dpd_12m
    CASE WHEN random() < 0.95 THEN 0 ELSE floor(random() * 60)::BIGINT END,   -- dpd
    floor(random() * 48)::BIGINT, floor(random() * 10)::BIGINT,            -- months, settled
    CASE WHEN random() < 0.3 THEN NULL ELSE floor(random() * 400)::BIGINT END,
    CASE WHEN random() < 0.8 THEN NULL ELSE floor(random() * 400)::BIGINT END,
    (200000 + floor(random() * 3000000)::BIGINT),                          -- income
    random() < 0.8,                                                        -- income_evidence
    floor(random() * 400)::BIGINT - 20,                                    -- days to expiry
    18 + floor(random() * 50)::BIGINT,                                     -- age
    (['employed', 'self_employed', 'student', 'retired', 'unemployed'])[
        1 + floor(random() * 5)::INTEGER],
    floor(random() * 3)::BIGINT, floor(random() * 6)::BIGINT, floor(random() * 9)::BIGINT,
    floor(random() * random() * 7)::BIGINT,                                -- lenders
    floor(random() * 10000000)::BIGINT,                                    -- other limits
    300 + floor(random() * 550)::BIGINT                                    -- bureau score
FROM range({n}) t(i)
"""
_UTILISATION = """
UPDATE features SET
    used_minor = CAST(floor(limit_minor * random()) AS BIGINT),
    utilisation = NULL
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_book(path: Path, lines: int) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(path))
    connection.execute("SELECT setseed(0.42)")
    connection.execute(features_table_sql())
    connection.execute(_GENERATE.format(n=lines))
    connection.execute(_UTILISATION)
    connection.execute("UPDATE features SET utilisation = used_minor / limit_minor")
    connection.execute("CHECKPOINT")
    return connection


def review(connection: duckdb.DuckDBPyConnection, engine: Engine) -> tuple[float, int]:
    """Seconds to decide every line into a `decisions` table, and how many were adverse."""
    connection.execute("DROP TABLE IF EXISTS decisions")
    began = time.perf_counter()
    connection.execute(
        "CREATE TABLE decisions AS SELECT line_id, action, new_limit_minor, reason_codes, "
        f"score, grade FROM ({engine.compiled.sql})"
    )
    seconds = time.perf_counter() - began
    [(adverse,)] = connection.execute(
        "SELECT count(*) FROM decisions WHERE action IN ('decrease', 'freeze', 'suspend', 'close')"
    ).fetchall()
    return seconds, adverse


def single_latencies(
    connection: duckdb.DuckDBPyConnection, engine: Engine, count: int
) -> list[float]:
    rows = connection.execute(
        f"SELECT {', '.join(FEATURE_COLUMNS)} FROM features USING SAMPLE {count} ROWS"
    ).fetchall()
    features = [dict(zip(FEATURE_COLUMNS, row, strict=True)) for row in rows]
    for row in features[:100]:
        engine.decide(row)  # warm up
    latencies = []
    for row in features:
        began = time.perf_counter()
        engine.decide(row)
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies


def child_peak(lines: int) -> None:
    """Run the review of `lines` lines and print the peak RSS (child mode)."""
    engine = Engine(load_policy(POLICY))
    with tempfile.TemporaryDirectory() as directory:
        connection = build_book(Path(directory) / "book.duckdb", lines)
        connection.execute("SET memory_limit = '1.5GB'")
        seconds, _ = review(connection, engine)
        connection.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{peak_kib} {seconds}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--singles", type=int, default=10_000)
    parser.add_argument("--memory-lines", type=int, default=10_000_000)
    parser.add_argument("--child-peak", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_peak:
        child_peak(args.child_peak)
        return 0

    engine = Engine(load_policy(POLICY))
    random.seed(42)
    with tempfile.TemporaryDirectory() as directory:
        log(f"building {args.lines:,} lines of features …")
        connection = build_book(Path(directory) / "book.duckdb", args.lines)
        log("reviewing …")
        review(connection, engine)  # warm: plan caches, file pages
        seconds, adverse = review(connection, engine)
        log("single decisions …")
        latencies = sorted(single_latencies(connection, engine, args.singles))
        connection.close()
    rate = args.lines / seconds
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"policy: {engine.compiled.label}; DuckDB {duckdb.__version__}")
    verdict = "PASS" if rate >= TARGET_LINES_PER_SECOND else "MISS"
    print(
        f"book review, {args.lines:,} lines: {seconds:.2f} s, {rate:,.0f} lines/s "
        f"[{verdict} target >= {TARGET_LINES_PER_SECOND:,}]; {adverse:,} adverse"
    )
    verdict = "PASS" if p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS else "MISS"
    print(
        f"single decision in-process ({len(latencies):,}): p50 {p50:.3f} ms, p99 {p99:.3f} ms "
        f"[{verdict} targets {TARGET_P50_MS} / {TARGET_P99_MS} ms]"
    )
    if args.memory_lines:
        log(f"peak memory for {args.memory_lines:,} lines (child process) …")
        child = subprocess.run(
            [sys.executable, __file__, "--child-peak", str(args.memory_lines)],
            capture_output=True,
            text=True,
            check=True,
        )
        peak_kib, child_seconds = child.stdout.split()
        peak_gib = int(peak_kib) / 1024 / 1024
        verdict = "PASS" if peak_gib <= TARGET_PEAK_GIB else "MISS"
        print(
            f"review of {args.memory_lines:,} lines: {float(child_seconds):.1f} s, peak RSS "
            f"{peak_gib:.2f} GiB [{verdict} target <= {TARGET_PEAK_GIB} GiB]"
        )
    print("not run: optbinning and toad scoring side by side, model quality (need `fit`)")
    print(f"\nCommand: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
