"""Concentration by region: each line under the region its application stated, worked by
hand on a four-line book, on both stores and on a DuckDB copy; a region that is not an
ISO 3166-2 code is refused with nothing stored.

    borrower  opened by                 region  drawn
    r1        an application           CN-SH   1,000.00
    r2        an application           CN-SH   —
    r3        an application           CN-BJ   500.00
    r4        staff (no application)    —       —        (2,000.00 limit: `unknown`)

Each application of 12,000.00 a month, employed, no history, is granted 20,000.00 (the
example policy's C × mid band, as tests/integration/test_applications.py works it out).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from creditline.bootstrap import Container
from creditline.decisions.applications import Application
from creditline.decisions.tables import applications
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import InvalidInput
from creditline.kernel.ids import new_id

AGENT = Actor("agent-1", Role.AGENT)
GRANTED = 2_000_000  # 20,000.00


def apply(c: Container, name: str, region: str | None) -> str:
    borrower = Actor(name, Role.BORROWER)
    application = Application(
        borrower_id=name,
        currency="CNY",
        income_monthly="12000.00",
        income_evidence=True,
        income_evidence_expires_on=dt.date(2027, 6, 30),
        birth_date=dt.date(1990, 5, 1),
        employment="employed",
        region=region,
    )
    result = c.underwriting.apply(borrower, new_id(), application).document
    assert (result["outcome"], result["limit"]) == ("approved", "20000.00")
    return str(result["line_id"])


def borrow(c: Container, name: str, line_id: str, amount: str) -> None:
    borrower = Actor(name, Role.BORROWER)
    held = c.ledger.place_hold(borrower, new_id(), line_id, amount, 3).document
    c.loans.post_drawdown(borrower, new_id(), held["id"])


def test_concentration_by_the_region_each_application_stated(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    borrow(container, "r1", apply(container, "r1", "CN-SH"), "1000.00")
    apply(container, "r2", "CN-SH")
    borrow(container, "r3", apply(container, "r3", "CN-BJ"), "500.00")
    container.ledger.open_line(AGENT, new_id(), "r4", "CNY", "2000.00")
    as_of = clock.now().date()
    clock.advance(dt.timedelta(days=2))

    expected = [
        ("CN-SH", 2, 2 * GRANTED, 100_000),
        ("CN-BJ", 1, GRANTED, 50_000),
        ("unknown", 1, 200_000, 0),
    ]
    report = container.portfolio.report(AGENT, as_of)
    found = [(c.key, c.lines, c.limit_minor, c.drawn_minor) for c in report.concentration["region"]]
    assert found == expected
    copy = container.portfolio.copy_book(AGENT, tmp_path / "book.duckdb")
    try:
        on_duckdb = container.portfolio.report_on(AGENT, copy, as_of)
    finally:
        copy.close()
    assert on_duckdb.concentration["region"] == report.concentration["region"]


def test_a_region_that_is_not_a_subdivision_code_is_refused(container: Container) -> None:
    with pytest.raises(InvalidInput) as refused:
        apply(container, "r5", "Shanghai")
    assert refused.value.details.get("field") == "region"
    with container.db.reading() as connection:
        assert connection.execute(select(func.count()).select_from(applications)).scalar() == 0
