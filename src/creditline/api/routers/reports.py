"""Reports for the lender's staff: the portfolio at a date, whole or one section of it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from creditline.api.deps import ModelMonitorDep, PermissionRoute, PortfolioDep, requires
from creditline.api.documents import answers
from creditline.api.documents import reports as docs
from creditline.kernel.actors import Actor
from creditline.kernel.errors import ReportSectionNotFound
from creditline.kernel.permissions import Permission
from creditline.portfolio.service import WEEKS_DEFAULT, WEEKS_MAX
from creditline.portfolio.views import SECTIONS, funder_document, portfolio_document

router = APIRouter(prefix="/v1/reports", route_class=PermissionRoute)

Reader = Annotated[Actor, requires(Permission.READ_PORTFOLIO)]
AsOf = Annotated[
    dt.date | None,
    Query(alias="date", description="the business date (default: yesterday where the lender is)"),
]
Currency = Annotated[
    str | None, Query(min_length=3, max_length=3, description="default: the first lent in")
]
Weeks = Annotated[int, Query(ge=1, le=WEEKS_MAX, description="weeks of limit changes and SLAs")]


@router.get("/portfolio", **answers(docs.Portfolio))
def portfolio(
    portfolio: PortfolioDep,
    actor: Reader,
    as_of: AsOf = None,
    currency: Currency = None,
    weeks: Weeks = WEEKS_DEFAULT,
) -> dict[str, Any]:
    """Every figure of the book at the end of a business date; staff."""
    return portfolio_document(portfolio.report(actor, as_of, currency, weeks))


@router.get("/portfolio/{section}", **answers(docs.PortfolioSection))
def portfolio_section(
    section: str,
    portfolio: PortfolioDep,
    actor: Reader,
    as_of: AsOf = None,
    currency: Currency = None,
    weeks: Weeks = WEEKS_DEFAULT,
) -> dict[str, Any]:
    """One section of the report (exposure, utilisation, limit_changes, zero_available,
    settlement_to_restored, dpd, roll_rates, vintages, expected_loss, concentration,
    notice_sla, review_sla), with the report's date and currency; staff."""
    if section not in SECTIONS:
        raise ReportSectionNotFound(f"no report section {section!r}: {', '.join(SECTIONS)}")
    document = portfolio_document(portfolio.report(actor, as_of, currency, weeks))
    keys = ("as_of", "currency", "cutoff", "period_start", "engine", section)
    return {key: document[key] for key in keys}


@router.get("/model", **answers(docs.ModelReport))
def model(monitor: ModelMonitorDep, actor: Reader, as_of: AsOf = None) -> dict[str, Any]:
    """The active scorecard's PSI this month against its development sample, and AUC, KS
    and calibration on matured outcomes (null figures when it keeps no development sample);
    staff. Reading it sends no alert: `creditline report model` does."""
    report = monitor.report(actor, as_of or dt.date.today())
    return {"model": None} if report is None else report.document()


@router.get("/funders/{funder}", **answers(docs.FunderReport))
def funder_report(
    funder: str,
    portfolio: PortfolioDep,
    actor: Reader,
    period: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="the month, YYYY-MM")],
) -> dict[str, Any]:
    """A funder's part of the book at the end of a month (CN-3): exposure, days past due,
    losses; staff."""
    return funder_document(portfolio.funder_report(actor, funder, period))
