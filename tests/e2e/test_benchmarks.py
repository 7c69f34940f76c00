"""Every bench under bench/ at its --smoke size: a bench that breaks fails the suite.

Each runs as a user runs it, from the repository's root, and must exit 0 and print figures it
measured: rates above zero, its ratios, and its own checks passed.
"""

import importlib.util
import re
import subprocess
import sys

import pytest
from conftest import POSTGRES_URL, REPO

# One at a time, beside the rest of the suite: each loads the CPUs and the PostgreSQL server.
pytestmark = pytest.mark.xdist_group("benchmarks")

# A smoke run takes seconds; this only stops a hung bench from hanging the suite.
BENCH_TIMEOUT_SECONDS = 300
NUMBER = r"(\d[\d,]*(?:\.\d+)?)"


def run_bench(script: str, *args: str) -> str:
    """`bench/<script> --smoke` from the repository's root; its standard output."""
    done = subprocess.run(
        [sys.executable, f"bench/{script}", "--smoke", *args],
        capture_output=True,
        text=True,
        timeout=BENCH_TIMEOUT_SECONDS,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, (
        f"bench/{script} --smoke exited {done.returncode}\n"
        f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
    )
    return done.stdout


def figures(pattern: str, output: str) -> list[float]:
    """The numbers `pattern` captures in `output` ("1,234" reads 1234)."""
    found = re.search(pattern, output)
    assert found is not None, f"no match for {pattern!r} in:\n{output}"
    return [float(group.replace(",", "")) for group in found.groups()]


def test_ledger_bench_measures_the_service_next_to_its_raw_baseline_on_both_stores() -> None:
    output = run_bench("ledger.py", "--postgres-url", POSTGRES_URL)
    for store in ("sqlite", "postgresql"):
        assert f"Raw baseline checked on {store}: the service's SQL in its order" in output
        rows = [("hold", "2 proc"), ("repay", "2 proc"), ("hold", "2 threads, 1 proc")]
        rows += [("repay", "2 threads, 1 proc"), ("hold", "2 proc, 1 shared line")]
        if store == "sqlite":  # group commit on and off, and the code before it (0029)
            rows += [("hold", "2 proc, no group commit"), ("hold", "2 proc, before 0029")]
            rows += [("hold", "2 threads, 1 proc, no group commit")]
            rows += [("hold", "2 threads, 1 proc, before 0029")]
        for op, clients in rows:
            # service/s, raw/s, service/raw
            row = rf"\| {store} \| {op} \| {clients} \| {NUMBER} \| {NUMBER} \| {NUMBER} \|"
            assert all(value > 0 for value in figures(row, output)), (store, op, clients)
    assert "SQLite holds per COMMIT through group commit: " in output
    # On PostgreSQL a hold's writes, and a repayment's, go as one statement (decision 0030),
    # between a BEGIN and a COMMIT of the command's own (one_statement.pipelined_transaction).
    checked = re.search(r"Raw baseline checked on postgresql: .*", output)
    assert checked is not None
    assert "; hold 5 statements," in checked.group() and "; repay 8 statements," in checked.group()
    afresh, remembered = figures(
        rf"{NUMBER} µs CPU a quote priced afresh, {NUMBER} µs remembered", output
    )
    assert afresh > remembered > 0


def test_end_of_day_bench_closes_a_book_and_prices_quotes() -> None:
    output = run_bench("eod.py", "--postgres-url", POSTGRES_URL)
    [loans_per_second] = figures(rf"end of day \S+: \S+ s, {NUMBER} loans/s", output)
    [eod_over_raw] = figures(rf"end of day / raw = {NUMBER}x", output)
    [quotes_per_second] = figures(rf"{NUMBER} quotes/s", output)
    assert min(loans_per_second, eod_over_raw, quotes_per_second) > 0
    assert "pure-model check on 300 sampled loans: 0 differ" in output


def test_review_bench_decides_a_book_and_scores_next_to_optbinning() -> None:
    output = run_bench("review.py")
    [lines_per_second] = figures(rf"book review, 20,000 lines: \S+ s, {NUMBER} lines/s", output)
    p50_ms, p99_ms = figures(
        rf"single decision in-process \(500\): p50 {NUMBER} ms, p99 {NUMBER}", output
    )
    [peak_gib] = figures(rf"review of 50,000 lines: \S+ s, peak RSS {NUMBER} GiB", output)
    [over_optbinning] = figures(
        rf"optbinning \S+ Scorecard.score .* rows/s over its: whole decision {NUMBER}x", output
    )
    assert min(lines_per_second, p50_ms, p99_ms, peak_gib, over_optbinning) > 0
    assert "20,000 of 20,000 rows equal, 0 differ" in output and "[MATCH]" in output
    if importlib.util.find_spec("toad") is None:
        assert "not run: toad's cards" in output


def test_review_book_bench_reviews_a_book_end_to_end_twice() -> None:
    output = run_bench("review_book.py", "--postgres-url", POSTGRES_URL)
    [lines_per_second] = figures(rf"end to end: \S+ s, {NUMBER} lines/s", output)
    [first_over_second] = figures(rf"first / second = {NUMBER}x", output)
    assert lines_per_second > 0 and first_over_second > 0
    first, second = re.findall(r"outcomes: (.*)", output)
    # The same book reviewed one change to a transaction: the same outcomes.
    assert "[SAME OUTCOMES]" in output, output
    assert ":applied" in first, first  # the book has lines to cut and freeze
    assert ":applied" not in second, second  # and the same day they are not changed again


def test_dispatch_bench_delivers_every_message_on_both_stores() -> None:
    output = run_bench("dispatch.py", "--postgres-url", POSTGRES_URL)
    runs = re.findall(
        rf"(\w+), (inbox only|inbox, e-mail and webhook): .* (\d) dispatcher\(s\) delivered "
        rf".* = {NUMBER} messages/s",
        output,
    )
    alone, everything = "inbox only", "inbox, e-mail and webhook"
    assert [run[:3] for run in runs] == [
        ("SQLite", alone, "1"),
        ("PostgreSQL", alone, "1"),
        ("SQLite", everything, "1"),
        ("PostgreSQL", everything, "1"),
        ("PostgreSQL", everything, "2"),
    ], output
    assert all(float(run[3].replace(",", "")) > 0 for run in runs)
    assert output.count("[OK]") == 5 and "MISMATCH" not in output
    # E-mail went over sessions kept for a batch: far fewer sessions than messages.
    for mails, sessions in re.findall(r"e-mail ([\d,]+), .* over ([\d,]+) SMTP session", output):
        assert 0 < int(sessions) < int(mails.replace(",", "")), output


def test_review_spark_bench_decides_a_book_on_spark_as_duckdb_does() -> None:
    output = run_bench("review_spark.py", "--master", "local[2]")
    [spark_rate] = figures(rf"second run \S+ s, {NUMBER} lines/s", output)
    [duckdb_rate, ratio] = figures(
        rf"duckdb, .*: \S+ s, {NUMBER} lines/s; spark / duckdb = {NUMBER}x", output
    )
    assert min(spark_rate, duckdb_rate, ratio) > 0
    assert "20,000 of 20,000 lines in both, 0 differ" in output and "[MATCH]" in output


def test_portfolio_bench_reports_a_book_on_duckdb() -> None:
    output = run_bench("portfolio.py")
    [seconds, lines_per_second, peak_gib] = figures(
        rf"portfolio report, 20,000 lines on DuckDB: {NUMBER} s, {NUMBER} lines/s, "
        rf"peak RSS {NUMBER} GiB",
        output,
    )
    assert min(seconds, lines_per_second, peak_gib) > 0
    assert "exposure against the generator's sums: [MATCH]" in output


def test_policy_notices_bench_queues_and_delivers_every_notice_on_both_stores() -> None:
    output = run_bench("policy_notices.py", "--postgres-url", POSTGRES_URL)
    queued = re.findall(rf"approval queued {NUMBER} notices in \S+ s = {NUMBER} notices/s", output)
    delivered = re.findall(
        rf"delivered {NUMBER} to the inbox in \S+ s = {NUMBER} notices/s; .*: {NUMBER}x", output
    )
    assert len(queued) == len(delivered) == 2, output
    for count, rate in queued:
        assert count == "3,000" and float(rate.replace(",", "")) > 0
    for count, rate, ratio in delivered:
        assert count == "3,000" and min(float(rate.replace(",", "")), float(ratio)) > 0
    assert output.count("[OK]") == 2 and "MISMATCH" not in output


def test_lender_attributes_bench_fits_on_them_next_to_optbinning_and_toad() -> None:
    output = run_bench("lender_attributes.py")
    [auc, ks] = figures(rf"creditline fit \(.*\) +{NUMBER} +{NUMBER}", output)
    [optb_auc, optb_ks] = figures(rf"optbinning defaults +{NUMBER} +{NUMBER}", output)
    assert 0.5 < auc < 1 and 0 < ks < 1 and 0.5 < optb_auc < 1 and 0 < optb_ks < 1
    [auc_ratio, ks_ratio] = figures(
        rf"best of the named defaults \(.*\): AUC {NUMBER}x, KS {NUMBER}x", output
    )
    assert min(auc_ratio, ks_ratio) > 0
    assert re.search(
        r"in-process scores equal optbinning's on (\S+) of \1 test rows \[MATCH\]", output
    )
    if importlib.util.find_spec("toad") is None:
        assert "not run: toad's cards" in output
    else:
        assert re.search(rf"toad chi-merge, default stops +{NUMBER} +{NUMBER}", output)


def test_http_bench_drives_serve_with_wrk_next_to_the_in_process_path() -> None:
    output = run_bench("http_api.py", "--postgres-url", POSTGRES_URL)
    for what in ("drawdown holds", r"line reads \(GET /v1/lines/\{id\}\)"):
        rate, p50, p99, in_rate, in_p50, in_p99, ratio = figures(
            rf"{what}, 4 clients, 2 processes, PostgreSQL: HTTP {NUMBER} req/s, p50 {NUMBER} ms, "
            rf"p99 {NUMBER} ms; in-process {NUMBER} \w+/s, p50 {NUMBER} ms, p99 {NUMBER} ms; "
            rf"HTTP / in-process = {NUMBER}x",
            output,
        )
        assert min(rate, p50, p99, in_rate, in_p50, in_p99, ratio) > 0, what
    assert "holds in the store match wrk's answers: [OK]" in output


def test_metrics_bench_times_the_middleware_and_scrapes_in_memory_and_in_files() -> None:
    output = run_bench("metrics_modes.py")
    for mode, others in (("memory", "-"), ("files", "1"), ("files", "3")):
        row = rf"\| {mode} \| {others} \| {NUMBER} \| {NUMBER} \| {NUMBER} \|"
        assert all(value > 0 for value in figures(row, output)), (mode, others)
    for others in (1, 3):
        per_request, per_scrape = figures(
            rf"files / memory with {others} other processes' files: {NUMBER}× CPU per request, "
            rf"{NUMBER}× CPU per scrape",
            output,
        )
        assert per_request > 0 and per_scrape > 0
