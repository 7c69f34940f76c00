"""Book-wide review on Spark next to DuckDB: the same compiled policy over the same Parquet.

Builds N lines of features with `bench/review.py`'s generator (seeded) and writes them to one
Parquet file, as a review on Spark does. Then it decides them with the shipped policy under its
profile's caps (CN-1, CN-2 and the unverified ceiling) on a local Spark session
(`decisions.batch.decide_parquet`: read the Parquet, run the compiled query in Spark SQL, write
every decision row, trace and features included, as Parquet), twice: the first run pays for
the JVM's warm-up. Then DuckDB decides the same Parquet into a Parquet file of its own, and
DuckDB compares the two outputs row for row on the decision's columns.

    .venv/bin/python bench/review_spark.py                     # 10,000,000 lines, local[*]
    .venv/bin/python bench/review_spark.py --lines 1000000 --master 'local[2]'
    .venv/bin/python bench/review_spark.py --smoke             # 20,000 lines (the tests)

It prints the machine, versions, wall time and lines/s of each part, and whether the two
engines decided alike. It is a report, not a test: it exits 0 whatever the figures (non-zero
only when the engines disagree or the setup is broken). Spark stays local: SPARK_LOCAL_IP
defaults to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from review import build_book

from creditline.config import shipped_policy_file
from creditline.decisions.batch import decide_parquet, parquet_files
from creditline.decisions.engine import Engine
from creditline.decisions.policy import load_policy
from creditline.loans.pricing import ProfileLimits
from creditline.loans.products import load_catalogue

SMOKE_LINES = 20_000
# The columns a review applies and records (besides the trace): compared row for row.
COMPARED = (
    "action",
    "new_limit_minor",
    "reason_codes",
    "score",
    "grade",
    "band",
    "target_minor",
    "decisive_rule",
    "freeze_days_out",
    "regulatory_cap_minor",
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def disagreements(duckdb_out: Path, spark_out: Path) -> tuple[int, int]:
    """Rows in both outputs, and rows that differ in a compared column or are in one only."""
    connection = duckdb.connect(":memory:")
    d = f"read_parquet('{duckdb_out}')"
    s = f"read_parquet('{parquet_files(str(spark_out))}')"
    differ = " OR ".join(f"d.{c} IS DISTINCT FROM s.{c}" for c in COMPARED)
    [(both, differing)] = connection.execute(
        f"SELECT count(d.line_id) FILTER (WHERE s.line_id IS NOT NULL), "
        f"count(*) FILTER (WHERE d.line_id IS NULL OR s.line_id IS NULL OR {differ}) "
        f"FROM {d} d FULL JOIN {s} s ON d.line_id = s.line_id"
    ).fetchall()
    return both, differing


def java_version() -> str:
    done = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).splitlines()[0] if done.returncode == 0 else "not found"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--master", default="local[*]", help="Spark master (local)")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_LINES:,} lines")
    args = parser.parse_args(argv)
    if args.smoke:
        args.lines = SMOKE_LINES
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from creditline.decisions.spark import session  # PySpark: the spark extra

    policy = load_policy(shipped_policy_file())
    caps = ProfileLimits(load_catalogue()).caps(policy.currency)
    engine = Engine(policy, caps)
    with tempfile.TemporaryDirectory(prefix="creditline-bench-spark-") as directory:
        root = Path(directory)
        features = root / "features.parquet"
        log(f"building {args.lines:,} lines of features …")
        began = time.perf_counter()
        book = build_book(root / "book.duckdb", args.lines)
        book.execute(f"COPY features TO '{features}' (FORMAT parquet)")
        book.close()
        (root / "book.duckdb").unlink()
        built_seconds = time.perf_counter() - began
        size_mib = features.stat().st_size / 2**20

        log(f"starting Spark ({args.master}) …")
        began = time.perf_counter()
        spark = session(
            args.master,
            {"spark.driver.memory": args.driver_memory, "spark.ui.enabled": "false"},
        )
        start_seconds = time.perf_counter() - began
        runs = []
        for n in (1, 2):
            log(f"deciding on Spark, run {n} …")
            out = root / f"spark-{n}"
            runs.append(timed(lambda o=out: decide_parquet(engine, str(features), str(o), spark)))
        spark_version, cores = spark.version, spark.sparkContext.defaultParallelism
        spark.stop()

        log("deciding on DuckDB …")
        duckdb_out = root / "duckdb.parquet"
        duckdb_seconds = timed(lambda: decide_parquet(engine, str(features), str(duckdb_out)))
        log("comparing …")
        both, differing = disagreements(duckdb_out, root / "spark-2")

    rate = args.lines / runs[1]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(
        f"Spark {spark_version} ({args.master}, {cores} tasks at a time, driver memory "
        f"{args.driver_memory}); {java_version()}; DuckDB {duckdb.__version__}"
    )
    print(f"policy: {engine.compiled.label} under {caps.profile if caps else 'no'} caps")
    print(
        f"features: {args.lines:,} lines built and written to Parquet in {built_seconds:.1f} s "
        f"({size_mib:,.0f} MiB)"
    )
    print(f"Spark session started in {start_seconds:.1f} s")
    print(
        f"spark, {args.lines:,} lines, Parquet to Parquet: first run {runs[0]:.1f} s "
        f"({args.lines / runs[0]:,.0f} lines/s); second run {runs[1]:.1f} s, {rate:,.0f} lines/s"
    )
    duckdb_rate = args.lines / duckdb_seconds
    print(
        f"duckdb, the same Parquet to Parquet: {duckdb_seconds:.1f} s, {duckdb_rate:,.0f} "
        f"lines/s; spark / duckdb = {rate / duckdb_rate:.2f}x"
    )
    verdict = "MATCH" if both == args.lines and differing == 0 else "MISMATCH"
    print(
        f"decisions, spark vs duckdb: {both:,} of {args.lines:,} lines in both, "
        f"{differing:,} differ in {', '.join(COMPARED)} [{verdict}]"
    )
    print(f"\nCommand: {' '.join(sys.argv)}")
    return 0 if verdict == "MATCH" else 1


if __name__ == "__main__":
    sys.exit(main())
