"""A funder's report against a two-loan book worked by hand, on both stores; its PDF renders.

    L1  1,000.00 / 3 months on 2026-06-01, the profile's split: lender 300.00, bank-a 500.00,
        trust-b 200.00; never repaid: due 07-01, 152 days past due on 11-30 (90+)
    L2  333.33 on 2026-11-02, staff's split lender 40 %, bank-a 60 %: bank-a 199.99 (19,999.8
        rounded down), the lender 133.34; current

bank-a at the end of 2026-11: 2 loans, 699.99 funded and outstanding of the book's 1,333.33
(52.50 %), 500.00 of it 90+ days past due, an estimated loss of 40 % (LGD) of that: 200.00.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLE_POLICY, with_rule, with_test_cn_setting
from test_funding_split import AGENT, FUNDED

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import FunderNotFound
from creditline.kernel.ids import new_id
from creditline.portfolio.figures import DpdBucket
from creditline.portfolio.views import funder_document
from creditline.web.funder_report import funder_html, pdf

ANALYST = Actor("analyst-1", Role.ANALYST)
APPROVER = Actor("approver-1", Role.APPROVER)
USE_OVER_A_TENTH = {
    "id": "use-over-a-tenth",
    "when": "utilisation > 0.1",
    "action": "decrease",
    "limit_factor": "0.5",
    "reason": "utilisation_high",
    "priority": 60,
}


@pytest.fixture
def book(database_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Container]:
    c = with_test_cn_setting(
        database_url, clock, tmp_path, FUNDED + '\nloss_given_default_percent = "40.00"'
    )

    def borrow(name: str, day: str, amount: str, funding: dict[str, str] | None) -> None:
        clock.set(dt.datetime.fromisoformat(f"{day}T02:00:00+00:00"))
        who = Actor(f"borrower-{name}", Role.BORROWER)
        line = c.ledger.open_line(AGENT, new_id(), who.subject, "CNY", "5000.00").document
        held = c.ledger.place_hold(who, new_id(), line["id"], amount, 3).document
        c.loans.post_drawdown(AGENT, new_id(), held["id"], None, funding)

    borrow("L1", "2026-06-01", "1000.00", None)
    borrow("L2", "2026-11-02", "333.33", {"lender": "40.00", "bank-a": "60.00"})
    clock.set(dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC))
    yield c
    c.close()


def test_a_funders_exposure_dpd_and_losses(book: Container) -> None:
    report = book.portfolio.funder_report(AGENT, "bank-a", "2026-11")
    p = report.position
    assert (report.as_of, report.currency, report.name) == (dt.date(2026, 11, 30), "CNY", "A 银行")
    assert (p.loans, p.funded_minor, p.drawn_minor) == (2, 69_999, 69_999)
    assert report.book_drawn_minor == 133_333
    assert p.dpd_buckets == [
        DpdBucket("current", 1, 19_999),
        DpdBucket("1-29", 0, 0),
        DpdBucket("30-59", 0, 0),
        DpdBucket("60-89", 0, 0),
        DpdBucket("90+", 1, 50_000),
    ]
    assert (p.defaulted_minor, p.loss_minor) == (50_000, 20_000)
    with pytest.raises(FunderNotFound):
        book.portfolio.funder_report(AGENT, "bank-z", "2026-11")


def test_concentration_by_funder_in_the_portfolio_report(book: Container) -> None:
    report = book.portfolio.report(AGENT, dt.date(2026, 11, 30))
    by_funder = {
        c.key: (c.lines, c.limit_minor, c.drawn_minor) for c in report.concentration["funder"]
    }
    assert by_funder == {
        "bank-a": (2, 1_000_000, 69_999),
        "lender": (2, 1_000_000, 43_334),  # 300.00 + 133.34
        "trust-b": (1, 500_000, 20_000),
    }


def test_the_funder_report_renders_to_a_pdf_with_its_headline(book: Container) -> None:
    from pypdf import PdfReader

    html = funder_html(book.portfolio.funder_report(AGENT, "bank-a", "2026-11"))
    reader = PdfReader(io.BytesIO(pdf(html)))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 1
    for figure in ("699.99", "500.00", "200.00", "52.50%"):
        assert figure in text


def test_the_policy_changes_of_the_month_with_their_impact_on_the_funder(
    book: Container, clock: FixedClock
) -> None:
    """On 2026-11-20 a version cutting lines used over a tenth of their limit by half is
    approved: by hand, L1 (1,000.00 of 5,000.00, 20 %) is cut to 2,500.00, L2 (333.33, 6.7 %)
    is not. bank-a's part of L1 outstanding is 500.00, trust-b's 200.00; each funder sees
    one line, its limit cut by 2,500.00. A funder of no affected line sees none."""
    approved_on = dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC)
    clock.set(approved_on)
    document = with_rule(EXAMPLE_POLICY, "2026.12.1", USE_OVER_A_TENTH, "0.9")
    label = book.policies.submit(ANALYST, "submit", document).document["policy"]
    book.policies.simulate(ANALYST, "simulate", label)
    effective = book.policies.approve(APPROVER, "approve", label, None).document["effective_at"]
    clock.set(dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC))

    [change] = book.portfolio.funder_report(AGENT, "bank-a", "2026-11").policy_changes
    assert (change.policy, change.approved_at, change.retired_at) == (label, approved_on, None)
    assert change.effective_at == dt.datetime.fromisoformat(effective)
    assert (change.lines_simulated, change.lines_adverse) == (2, 1)
    assert (change.lines, change.lines_by_action) == (1, {"decrease": 1})
    assert (change.limit_cut_minor, change.drawn_minor) == (250_000, 50_000)
    [trust] = book.portfolio.funder_report(AGENT, "trust-b", "2026-11").policy_changes
    assert (trust.lines, trust.limit_cut_minor, trust.drawn_minor) == (1, 250_000, 20_000)
    assert book.portfolio.funder_report(AGENT, "bank-a", "2026-10").policy_changes == []
    document = funder_document(book.portfolio.funder_report(AGENT, "bank-a", "2026-11"))
    assert document["policy_changes"][0]["funder_limit_cut"] == "2500.00"
    assert "2026.12.1" in funder_html(book.portfolio.funder_report(AGENT, "bank-a", "2026-11"))
