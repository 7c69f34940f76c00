"""Every portfolio figure against the small book of `portfolio_book.py`, worked by hand here,
on both stores; and the same figures from a DuckDB copy of the book.

The profile loses 40 % at default (LGD) and converts half of the undrawn limit (CCF); a grade's
PD is its matured bad rate from 2 matured lines (`with_matured_lines_min(2)`), else the example
policy's scorecard scaling: 50:1 good:bad at 500 points, doubling every 20.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, replace
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import with_test_cn_setting
from portfolio_book import AGENT, AS_OF, Book, build_book

from creditline.bootstrap import Container
from creditline.kernel.clock import FixedClock
from creditline.portfolio.figures import Portfolio

HOUR_MS = 3_600_000


@pytest.fixture
def priced_container(database_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Container]:
    built = with_test_cn_setting(
        database_url,
        clock,
        tmp_path,
        'loss_given_default_percent = "40.00"\ncredit_conversion_percent = "50.00"',
    )
    yield built
    built.close()


@pytest.fixture
def reported(priced_container: Container, clock: FixedClock) -> tuple[Container, Book, Portfolio]:
    book = build_book(priced_container, clock)
    service = priced_container.portfolio.with_matured_lines_min(2)
    return priced_container, book, service.report(AGENT, AS_OF)


def test_exposure_and_utilisation(reported: tuple[Container, Book, Portfolio]) -> None:
    _, _, report = reported
    exposure = report.exposure
    assert exposure.lines_by_status == {"active": 5, "frozen": 1}  # L3 frozen on 01-05
    # 12,000 + 11,000 + 6,000 + 2,000 + 2,000 + 1,000
    assert exposure.limit_minor == 3_400_000
    assert exposure.drawn_minor == 1_100_000  # L1 6,000 + L3 3,000 + L5 2,000
    assert exposure.held_minor == 100_000  # L6's entry
    # active lines: L1 6,000 + L2 11,000 + L4 2,000 (L5, L6 nothing; L3 frozen)
    assert exposure.available_minor == 1_900_000
    # L2, L4 nothing used; L1 6/12 and L3 3/6 are 50 %; L5 and L6 all
    assert report.utilisation == {
        "0%": 2,
        "1-25%": 0,
        "26-50%": 2,
        "51-75%": 0,
        "76-90%": 0,
        "91-100%": 2,
    }


def test_limit_changes_by_week_with_rates(reported: tuple[Container, Book, Portfolio]) -> None:
    _, _, report = reported
    assert len(report.weeks) == 12
    assert (report.weeks[0].first_day, report.weeks[-1].last_day) == (
        dt.date(2026, 10, 19),
        AS_OF,
    )
    changed = {w.last_day: (w.decisions, w.reasons) for w in report.weeks if w.decisions}
    assert changed == {
        # The four lines opened on 12-01, each granted its limit by a decision, and L3's raise.
        dt.date(2026, 12, 6): (
            {"increase": 5},
            {"increase": {"application_approved": 4, "good_repayment_history": 1}},
        ),
        dt.date(2026, 12, 13): ({"freeze": 1}, {"freeze": {"drawdown_velocity": 1}}),
        dt.date(2026, 12, 27): ({"unfreeze": 1}, {"unfreeze": {"freeze_ended": 1}}),  # sweep
        dt.date(2027, 1, 10): ({"freeze": 1}, {"freeze": {"overdue_payment": 1}}),
    }
    # Two lines until the four of 12-01 opened.
    assert [w.lines_on_book for w in report.weeks] == [2] * 6 + [6] * 6
    freeze_week = report.weeks[7]
    assert freeze_week.rate("freeze") == Decimal(1) / 6
    assert freeze_week.rate("suspend") == freeze_week.rate("decrease") == 0


def test_lines_at_zero_available_each_with_its_decision(
    reported: tuple[Container, Book, Portfolio],
) -> None:
    _, book, report = reported
    zero = report.zero_available
    assert zero.by_cause == {"decision": 1, "drawdown": 1, "defect": 1}
    [defect] = zero.defects  # L6: held whole by an entry with no decision
    assert (defect.line_id, defect.kind, defect.decision_id) == (book.lines["L6"], "adjust", None)
    explained = {z.line_id: (z.cause, z.kind, z.decision_id) for z in zero.latest}
    assert explained == {
        book.lines["L3"]: ("decision", "freeze", book.decisions["L3-freeze"]),
        book.lines["L5"]: ("drawdown", "hold", None),
    }


def test_settlement_to_restored_credit(reported: tuple[Container, Book, Portfolio]) -> None:
    _, _, report = reported
    # L2 settled while active: at once. L4 settled 12-15 05:00 while frozen; the sweep of
    # 12-21 02:00 restored it: 5 days 21 hours.
    restored = report.settlement_to_restored
    assert (restored.count, restored.waiting) == (2, 0)
    assert (restored.p50_ms, restored.p99_ms) == (0, (5 * 24 + 21) * HOUR_MS)


def test_days_past_due_roll_rates_and_vintages(reported: tuple[Container, Book, Portfolio]) -> None:
    _, _, report = reported
    # L1's 6,000 due from 2026-02-06; L3's and L5's first instalments due 01-01: 9 days.
    assert [(b.bucket, b.loans, b.principal_minor) for b in report.dpd_buckets] == [
        ("current", 0, 0),
        ("1-29", 2, 500_000),
        ("30-59", 0, 0),
        ("60-89", 0, 0),
        ("90+", 1, 600_000),
    ]
    # On 12-11 L3, L4 and L5 were current, L1 90+; L4 has settled since.
    rolled = {(a, b): n for a, row in report.roll_rates.items() for b, n in row.items() if n}
    assert rolled == {("current", "1-29"): 2, ("current", "settled"): 1, ("90+", "90+"): 1}
    january, december = report.vintages
    # L1's loan of 2026-01-06: 30 days past due on 03-08 (month 2), 90 on 05-07 (month 4).
    assert (january.cohort, january.loans) == ("2026-01", 1)
    assert january.reached_30 == [0, 0] + [1] * 11
    assert january.reached_90 == [0, 0, 0, 0] + [1] * 9
    assert (december.cohort, december.loans, december.reached_30) == ("2026-12", 4, [0, 0])


def test_expected_loss_by_grade(reported: tuple[Container, Book, Portfolio]) -> None:
    _, _, report = reported
    grades = {g.grade: g for g in report.grades}
    a, b, unscored = grades["A"], grades["B"], grades["unscored"]
    # A: L1 and L2, both on the book and scored a year before; L1 went 90+ on 2026-05-07.
    assert (a.matured_lines, a.matured_bad, a.pd, a.pd_source) == (2, 1, Decimal("0.5"), "matured")
    assert a.ead_minor == 600_000 + 1_700_000 // 2  # drawn 6,000 + half of 17,000 undrawn
    assert a.expected_loss_minor == 290_000  # 0.5 × 0.4 × 14,500.00
    # B: L3 (660 points), no matured line: 1 / (1 + 50 × 2^(160/20)) = 1 / 12,801.
    assert (b.pd_source, b.pd) == ("scorecard", Decimal(1) / 12_801)
    assert b.ead_minor == 450_000  # 3,000 + half of 3,000
    assert b.expected_loss_minor == 14  # 4,500.00 × 0.4 / 12,801 = 0.1406… → 0.14
    # L4, L5, L6: drawn 2,000 + held 1,000 + half of L4's 2,000; no score, no PD.
    assert (unscored.lines, unscored.ead_minor, unscored.expected_loss_minor) == (3, 400_000, 0)
    assert report.expected_loss_minor == 290_014
    assert [(c.key, c.lines, c.drawn_minor) for c in report.concentration["grade"]] == [
        ("A", 2, 600_000),
        ("B", 1, 300_000),
        ("unknown", 3, 200_000),
    ]


def test_notice_and_human_review_slas(reported: tuple[Container, Book, Portfolio]) -> None:
    _, _, report = reported
    # The four grants of 12-01 two hours each, L3's increase an hour, L4's freeze two, the
    # sweep's unfreeze an hour; L3's freeze waits.
    sla = report.notice_sla
    assert (sla.count, sla.p50_ms, sla.p99_ms, sla.waiting) == (7, 2 * HOUR_MS, 2 * HOUR_MS, 1)
    assert report.decisions_without_notice == 0
    reviews = report.review_sla
    assert (reviews.requested, reviews.decided.count, reviews.decided.p50_ms) == (
        2,
        1,
        24 * HOUR_MS,
    )
    assert (reviews.open_now, reviews.overdue_now, reviews.decided_late) == (1, 0, 0)


def test_duckdb_copy_gives_the_same_figures(
    reported: tuple[Container, Book, Portfolio], tmp_path: Path
) -> None:
    container, _, report = reported
    service = container.portfolio.with_matured_lines_min(2)
    copy = service.copy_book(AGENT, tmp_path / "book.duckdb")
    try:
        on_duckdb = service.report_on(AGENT, copy, AS_OF)
    finally:
        copy.close()
    assert on_duckdb.engine == "duckdb"
    assert asdict(replace(on_duckdb, engine=report.engine)) == asdict(report)
