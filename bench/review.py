"""Book-wide review on DuckDB, single decisions in-process, scoring next to optbinning and toad.

Builds a features table of N lines in a DuckDB file (random but realistic features, seeded),
then runs the compiled policy over all of it, writing every line's action, new limit and
reason codes to a table, and reports lines/s. Then decides single lines in-process
(`Engine.decide`) and reports p50/p99 latency. With `--memory-lines` it also runs the review
of that many lines in a child process and reports its peak resident memory.

Then, unless `--no-compare`, it fits the scorecard of `policies/us-fitted.yaml` again on
`datasets/lending-club/features.csv` (`creditline.decisions.fitting`: 70/30 stratified split,
seed 42), resamples the data's rows with a fixed seed to N rows of the features it scores and
times, on those same rows (best of 3 runs each): the fitted policy compiled and run on DuckDB
(the whole decision written to a table, and the score alone), optbinning's `Scorecard.score`
and toad's `ScoreCard.predict` (a toad card fitted on the same training rows), with the
ratios, and checks that creditline's scores equal optbinning's on every row. Last, model
quality: AUC and KS on the training and test parts for creditline's fit, optbinning with its
defaults on every column of the data, and toad's cards (chi-merge with bins of at least 5 % of
the rows, the one timed, and with toad's default stops); each table row also says which way
its score runs, read off the data. The comparison needs the fit extra, and toad's rows the
bench extra (`pip install -e '.[fit,bench]'`); without toad they are left out, and the report
says so.

    .venv/bin/python bench/review.py                          # 1,000,000 lines
    .venv/bin/python bench/review.py --lines 200000 --memory-lines 0
    .venv/bin/python bench/review.py --no-compare
    .venv/bin/python bench/review.py --smoke                  # every part, in seconds (the tests)

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
import warnings
from pathlib import Path
from typing import Any

import duckdb
from scorecards import optbinning_card, quality, toad_card

from creditline.config import shipped_policy_file
from creditline.decisions.engine import FEATURE_COLUMNS, Engine, features_table_sql
from creditline.decisions.features import FEATURES, FeatureType
from creditline.decisions.policy import load_policy
from creditline.kernel.errors import InvalidInput

ROOT = Path(__file__).parents[1]
POLICY = shipped_policy_file()
FITTED_POLICY = ROOT / "policies" / "us-fitted.yaml"  # its scorecard: `creditline fit` on DATA
DATA = ROOT / "datasets" / "lending-club" / "features.csv"
TARGET = "bad"
RESAMPLE_SEED = 42
REPEATS = 3  # side by side: each scorer's best of this many timed runs, after a warm one
TARGET_LINES_PER_SECOND = 1_000_000
TARGET_P50_MS, TARGET_P99_MS = 1.0, 5.0
TARGET_PEAK_GIB = 2.0
# --smoke: every part runs, the child process and the comparison included, on few rows.
SMOKE_SIZES = {"lines": 20_000, "singles": 500, "memory_lines": 50_000}

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
    CASE WHEN random() < 0.5 THEN NULL ELSE floor(random() * 500000)::BIGINT END,  -- obligations
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


def _timed(call: Any) -> tuple[float, Any]:
    """The best seconds of `call()` over REPEATS runs after a warm one, and its result."""
    result = call()
    best = float("inf")
    for _ in range(REPEATS):
        began = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - began)
    return best, result


def _scores_alone(connection: duckdb.DuckDBPyConnection, engine: Engine) -> float:
    """Seconds to write every line's score alone to a table (the compiled query, cut at the
    score: DuckDB drops the columns nothing reads)."""
    connection.execute("DROP TABLE IF EXISTS scores")
    began = time.perf_counter()
    connection.execute(
        f"CREATE TABLE scores AS WITH {engine.compiled.ctes} SELECT line_id, score FROM graded"
    )
    return time.perf_counter() - began


def compare(lines: int, directory: Path) -> None:
    """Scoring side by side with optbinning and toad, then model quality (prints a report)."""
    try:
        import numpy as np
        import optbinning
        from sklearn.model_selection import train_test_split

        from creditline.decisions.fitting import FitOptions, fit, read_data
    except (ImportError, InvalidInput) as error:
        print(
            f"not run: scoring next to optbinning and toad, model quality ({error}; "
            "pip install -e '.[fit,bench]')"
        )
        return
    try:
        import toad
    except ImportError as error:
        toad = None
        print(
            f"not run: toad's cards, timed and in model quality ({error}; "
            "pip install -e '.[bench]')"
        )
    warnings.filterwarnings("ignore", module="optbinning")
    warnings.filterwarnings("ignore", module="toad")

    log("fitting the scorecard (creditline.decisions.fitting) …")
    options = FitOptions()
    x, y = read_data(DATA, TARGET)
    fitted = fit(x, y, options, data_name=DATA.name)
    names = [a.feature for a in fitted.scorecard.attributes]  # the features it scores
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=float(options.test_size), stratify=y, random_state=options.seed
    )
    engine = Engine(load_policy(FITTED_POLICY))
    same_card = engine.policy.scorecard == fitted.scorecard

    log("fitting optbinning's default card (and toad's) on the same training rows …")

    if toad is not None:
        toad_chi = toad_card(
            toad, x_train[names], y_train, options, min_samples=0.05
        )  # bins of at least 5 % of the rows
        toad_default = toad_card(
            toad, x_train[names], y_train, options
        )  # chi-square merging with toad's default stops
    every = list(x.columns)
    categorical = [
        n for n in every if FEATURES[n].type in (FeatureType.CATEGORY, FeatureType.BOOLEAN)
    ]
    optb_default = optbinning_card(x_train, y_train, categorical, options)

    log(f"resampling {lines:,} rows and loading them into DuckDB …")
    rng = np.random.default_rng(RESAMPLE_SEED)
    rows = x[names].iloc[rng.integers(0, len(x), lines)].reset_index(drop=True)
    resampled = rows.assign(
        n=np.arange(lines, dtype=np.int64),
        limit_minor=(1 + rng.integers(0, 500, lines, dtype=np.int64)) * 10_000,
    )
    connection = duckdb.connect(str(directory / "scored.duckdb"))
    connection.execute(features_table_sql())
    connection.register("resampled", resampled)
    connection.execute(
        f"INSERT INTO features (line_id, limit_minor, {', '.join(names)}) "
        f"SELECT CAST(n AS VARCHAR), limit_minor, {', '.join(names)} FROM resampled"
    )
    connection.unregister("resampled")
    connection.execute("CHECKPOINT")

    log("scoring side by side …")
    review(connection, engine)  # warm
    decision_seconds = min(review(connection, engine)[0] for _ in range(REPEATS))
    ours = connection.execute(
        "SELECT score FROM decisions ORDER BY CAST(line_id AS BIGINT)"
    ).fetchnumpy()["score"]
    why = ""
    try:
        _scores_alone(connection, engine)  # warm
        score_seconds: float | None = min(_scores_alone(connection, engine) for _ in range(REPEATS))
    except duckdb.Error as error:
        score_seconds, why = None, str(error).splitlines()[0]
    connection.close()
    optb_seconds, theirs = _timed(lambda: fitted.model.score(rows))
    others = [(f"optbinning {optbinning.__version__} Scorecard.score (pandas)", optb_seconds)]
    if toad is not None:
        toad_seconds, _ = _timed(lambda: toad_chi.predict(rows))
        others.append((f"toad {toad.__version__} ScoreCard.predict (pandas)", toad_seconds))

    def rate(seconds: float) -> float:
        return lines / seconds

    print(
        f"\nscoring side by side: {lines:,} rows resampled (numpy seed {RESAMPLE_SEED}) from "
        f"{DATA.relative_to(ROOT)} ({len(x):,} rows); features {', '.join(names)}; "
        f"best of {REPEATS} runs each"
    )
    ours_rate = rate(decision_seconds)
    print(
        f"  creditline {engine.compiled.label} on DuckDB, whole decision (score, rules, matrix, "
        f"caps, reasons) to a table: {decision_seconds:.2f} s, {ours_rate:,.0f} rows/s"
    )
    if score_seconds is None:
        print(f"  creditline on DuckDB, score alone: not measured ({why})")
    else:
        print(
            f"  creditline on DuckDB, score alone to a table: {score_seconds:.2f} s, "
            f"{rate(score_seconds):,.0f} rows/s"
        )
    for label, seconds in others:
        ratios = f"whole decision {ours_rate / rate(seconds):.2f}x"
        if score_seconds is not None:
            ratios += f", score alone {rate(score_seconds) / rate(seconds):.2f}x"
        print(
            f"  {label}: {seconds:.2f} s, {rate(seconds):,.0f} rows/s; "
            f"creditline's rows/s over its: {ratios}"
        )
    differ = int(np.count_nonzero(ours != theirs))
    verdict = "MATCH" if differ == 0 and same_card else "MISMATCH"
    print(
        f"  scores, creditline vs optbinning: {lines - differ:,} of {lines:,} rows equal, "
        f"{differ:,} differ; the policy's scorecard "
        f"{'is' if same_card else 'is NOT'} the one fitted now [{verdict}]"
    )
    if differ:
        first = np.flatnonzero(ours != theirs)[:5]
        for i in first:
            seen = {name: rows[name].iat[i] for name in names}  # each column's own type
            print(f"    row {i}: creditline {ours[i]}, optbinning {theirs[i]}; {seen}")

    print(
        f"\nmodel quality: {DATA.relative_to(ROOT)}, target {TARGET} (1 = bad), split "
        f"{100 - int(100 * options.test_size)}/{int(100 * options.test_size)} stratified, "
        f"seed {options.seed}; AUC and KS of the bad outcome ranked by -score"
    )
    models = [
        ("creditline fit (monotonic bins, rounded points)", fitted.model.score, names),
        ("optbinning defaults, every column", optb_default.score, every),
    ]
    if toad is not None:
        models += [
            ("toad chi-merge, bins >= 5 % of rows (timed above)", toad_chi.predict, names),
            ("toad chi-merge, toad's default stops", toad_default.predict, names),
        ]
    print(
        f"  {'model':<50} {'features':>8} {'train AUC':>9} {'train KS':>8} "
        f"{'test AUC':>8} {'test KS':>7}  higher score"
    )
    for n, (label, score, columns) in enumerate(models):
        train_score, test_score = score(x_train[columns]), score(x_test[columns])
        if n == 0:  # creditline's own figures, as its fit report states them
            train, test = fitted.report.train, fitted.report.test
        else:
            train, test = quality(y_train, train_score), quality(y_test, test_score)
        # Which way the score runs, read off the data: the bad rate falls as it rises or not.
        better = "better" if quality(y_test, test_score)["auc"] > 0.5 else "WORSE"
        print(
            f"  {label:<50} {len(columns):>8} {train['auc']:>9.4f} {train['ks']:>8.4f} "
            f"{test['auc']:>8.4f} {test['ks']:>7.4f}  = {better} borrower"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--singles", type=int, default=10_000)
    parser.add_argument("--memory-lines", type=int, default=10_000_000)
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="skip scoring next to optbinning and toad, and model quality",
    )
    parser.add_argument("--child-peak", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--smoke", action="store_true", help="every part on few rows, in seconds (sets the sizes)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE_SIZES)
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
    if args.no_compare:
        print("not run: scoring next to optbinning and toad, model quality (--no-compare)")
    else:
        with tempfile.TemporaryDirectory() as directory:
            compare(args.lines, Path(directory))
    print(f"\nCommand: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
