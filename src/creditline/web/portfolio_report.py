"""The portfolio report as people read it: the staff page's body, and a standalone HTML file
and PDF (`creditline report portfolio`), with the same server-drawn SVG charts, each with its
figures in a table beside it. The PDF is WeasyPrint's rendering of the standalone HTML, in
Noto CJK so that Chinese text renders."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from markupsafe import Markup

from creditline.kernel.money import display_amount, format_minor
from creditline.portfolio.views import Portfolio, share
from creditline.web.charts import Bars, Curves, curves_svg, curves_table, svg, table
from creditline.web.pages import environment
from creditline.web.texts import text


def report_context(report: Portfolio, lang: str) -> dict[str, Any]:
    """What the report's templates show: the figures, their charts, words in `lang`."""
    currency = report.currency

    def money(minor: int) -> str:
        return display_amount(format_minor(minor, currency), currency, lang)

    def t(key: str) -> str:
        return text(key, lang)

    exposure = report.exposure
    charts: list[tuple[Markup, Markup]] = []
    for bars in (
        Bars(
            t("pf_exposure"),
            [
                {"figure": t(key), "series": currency, "minor": minor}
                for key, minor in (
                    ("pf_limit", exposure.limit_minor),
                    ("pf_drawn", exposure.drawn_minor),
                    ("pf_held", exposure.held_minor),
                    ("pf_available", exposure.available_minor),
                )
            ],
            "figure",
            "series",
            "minor",
            money,
        ),
        Bars(
            t("pf_utilisation"),
            [{"band": b, "series": t("pf_lines"), "n": n} for b, n in report.utilisation.items()],
            "band",
            "series",
            "n",
        ),
        Bars(
            t("pf_dpd"),
            [{"b": b.bucket, "series": t("pf_lines"), "n": b.loans} for b in report.dpd_buckets],
            "b",
            "series",
            "n",
        ),
        Bars(
            t("pf_dpd_principal"),
            [
                {"b": b.bucket, "series": currency, "n": b.principal_minor}
                for b in report.dpd_buckets
            ],
            "b",
            "series",
            "n",
            money,
        ),
    ):
        charts.append((svg(bars), table(bars)))
    for key, attribute in (("pf_vintage_30", "reached_30"), ("pf_vintage_90", "reached_90")):
        curves = Curves(
            t(key),
            {v.cohort: [float(s) for s in v.share(getattr(v, attribute))] for v in report.vintages},
            t("pf_months_on_book"),
            _percent,
        )
        charts.append((curves_svg(curves), curves_table(curves)))
    return {
        "report": report,
        "charts": charts,
        "amount": money,
        "percent": _percent,
        "seconds": _seconds,
        "t": t,
        "lang": lang,
    }


def standalone_html(report: Portfolio, lang: str) -> str:
    """The report as one HTML document (styles inline, nothing fetched)."""
    template = environment().get_template("portfolio_report.html.j2")
    return template.render(**report_context(report, lang))


def pdf(html: str) -> bytes:
    """The standalone HTML as a PDF (WeasyPrint)."""
    from weasyprint import HTML

    return bytes(HTML(string=html).write_pdf())


def _percent(value: Decimal | float) -> str:
    return f"{share(Decimal(value) * 100, 2)}%"


def _seconds(ms: int | None) -> str:
    return "–" if ms is None else str(Decimal(ms) / 1000)
