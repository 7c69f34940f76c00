"""Reports for staff: the portfolio, whole or by section; the scorecard's monitoring; a
funder's month (`creditline.portfolio.views`, `creditline.portfolio.monitoring`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from creditline.api.documents import Document, Money, Time

Section = dict[str, Any]
Rows = list[dict[str, Any]]


class ReportHeading(Document):
    as_of: str = Field(description="the business date")
    currency: str
    cutoff: str = Field(description="the end of the business date where the lender is")
    period_start: str
    engine: str = Field(description="what computed it")


class Portfolio(ReportHeading):
    exposure: Section
    utilisation: dict[str, int] = Field(description="lines by share of the limit used")
    limit_changes: Rows = Field(description="by week: decisions, reasons, rates")
    zero_available: Section
    settlement_to_restored: Section
    dpd: Rows = Field(description="by bucket: loans and principal")
    roll_rates: dict[str, dict[str, int]]
    vintages: Rows
    expected_loss: Section
    concentration: Section
    notice_sla: Section
    review_sla: Section


class PortfolioSection(ReportHeading):
    """The heading and the one section asked for."""

    exposure: Section | None = None
    utilisation: dict[str, int] | None = None
    limit_changes: Rows | None = None
    zero_available: Section | None = None
    settlement_to_restored: Section | None = None
    dpd: Rows | None = None
    roll_rates: dict[str, dict[str, int]] | None = None
    vintages: Rows | None = None
    expected_loss: Section | None = None
    concentration: Section | None = None
    notice_sla: Section | None = None
    review_sla: Section | None = None


class ModelReport(Document):
    """The active scorecard's drift and discrimination; only `model: null` when it keeps no
    development sample."""

    model: str | None = Field(description="the scorecard, id@version")
    as_of: str | None = None
    period: str | None = Field(default=None, description="the month the PSI measures, YYYY-MM")
    scored: int | None = None
    score_psi: float | None = None
    attribute_psi: dict[str, float | None] | None = None
    matured_lines: int | None = None
    matured_bads: int | None = None
    auc: float | None = None
    ks: float | None = None
    calibration: Rows | None = None
    psi_alert_above: float | None = None
    drifted: list[str] | None = None


class FunderDpd(Document):
    bucket: str
    loans: int
    principal: Money


class FunderPolicyChange(Document):
    """A policy version approved or taking effect in the period and its simulated impact: on
    the whole book, and on the lines of the funder's open loans adversely affected."""

    policy: str
    approved_at: Time
    effective_at: Time | None
    retired_at: Time | None
    lines_simulated: int
    lines_adverse: int
    funder_lines: int
    funder_lines_by_action: dict[str, int]
    funder_limit_cut: Money
    funder_drawn: Money


class FunderReport(Document):
    funder: str
    name: str
    period: str
    as_of: str
    currency: str
    loans: int
    funded: Money
    drawn: Money
    share_of_book_drawn: str
    dpd: list[FunderDpd]
    defaulted: Money
    loss_given_default: str
    loss_estimate: Money
    policy_changes: list[FunderPolicyChange]
