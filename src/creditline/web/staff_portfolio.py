"""The portfolio in the console: the report at a business date with its charts."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response

from creditline.kernel.errors import InvalidInput
from creditline.web.pages import PageRoute, VisitDep
from creditline.web.portfolio_report import report_context

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/staff/portfolio")
def portfolio(visit: VisitDep, date: str | None = None) -> Response:
    """The book at the end of a business date (yesterday unless asked), charted."""
    as_of = None
    if date:
        try:
            as_of = dt.date.fromisoformat(date)
        except ValueError:
            raise InvalidInput("date must be YYYY-MM-DD", field="date") from None
    report = visit.container.portfolio.report(visit.signed_in.actor, as_of)
    context = report_context(report, visit.lang)
    del context["t"], context["lang"]  # the page's own
    return visit.render("staff_portfolio.html.j2", **context)
