"""A funder's report (CN-3's risk disclosure) as a standalone HTML file and a PDF
(`creditline report funder`): its exposure, days past due and losses, with server-drawn SVG
charts and their figures in tables, rendered to PDF by WeasyPrint as the portfolio report is."""

from __future__ import annotations

from typing import Any

from creditline.kernel.money import format_minor
from creditline.portfolio.views import FunderReport
from creditline.web.charts import Bars, svg, table
from creditline.web.pages import environment
from creditline.web.portfolio_report import pdf

__all__ = ["funder_html", "pdf"]


def funder_context(report: FunderReport) -> dict[str, Any]:
    """What the template shows: the headline figures, the charts and their tables."""
    currency = report.currency

    def money(minor: int) -> str:
        return f"{format_minor(minor, currency)} {currency}"

    position = report.position
    charts = []
    for bars in (
        Bars(
            "Principal by days past due",
            [{"b": b.bucket, "s": currency, "n": b.principal_minor} for b in position.dpd_buckets],
            "b",
            "s",
            "n",
            money,
        ),
        Bars(
            "Loans by days past due",
            [{"b": b.bucket, "s": "loans", "n": b.loans} for b in position.dpd_buckets],
            "b",
            "s",
            "n",
        ),
    ):
        charts.append((svg(bars), table(bars)))
    share = position.share_of(report.book_drawn_minor) * 100
    return {
        "report": report,
        "position": position,
        "charts": charts,
        "amount": money,
        "share_percent": f"{share:.2f}",
        "lgd_percent": f"{report.loss_given_default * 100:.2f}",
    }


def funder_html(report: FunderReport) -> str:
    """The report as one HTML document (styles inline, nothing fetched)."""
    template = environment().get_template("funder_report.html.j2")
    return template.render(**funder_context(report))
