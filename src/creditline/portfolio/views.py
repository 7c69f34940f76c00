"""Portfolio reports as JSON documents: amounts as decimal strings in major units (and their
minor units), shares and probabilities as decimal strings, times in ISO 8601."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from creditline.kernel.money import format_minor
from creditline.portfolio.figures import Durations, Portfolio, ZeroLine
from creditline.portfolio.funders import FunderReport

__all__ = [
    "SECTIONS",
    "FunderReport",
    "Portfolio",
    "funder_document",
    "portfolio_document",
    "share",
]

SECTIONS = (
    "exposure",
    "utilisation",
    "limit_changes",
    "zero_available",
    "settlement_to_restored",
    "dpd",
    "roll_rates",
    "vintages",
    "expected_loss",
    "concentration",
    "notice_sla",
    "review_sla",
)


def share(value: Decimal, places: int = 4) -> str:
    """A share or probability as a decimal string."""
    return str(value.quantize(Decimal(1).scaleb(-places)))


def portfolio_document(report: Portfolio) -> dict[str, Any]:
    """The whole report."""
    currency = report.currency

    def money(minor: int) -> str:
        return format_minor(minor, currency)

    exposure = report.exposure
    return {
        "as_of": report.as_of.isoformat(),
        "currency": currency,
        "cutoff": report.cutoff.isoformat(),
        "period_start": report.period_start.isoformat(),
        "engine": report.engine,
        "exposure": {
            "lines": exposure.lines,
            "lines_by_status": exposure.lines_by_status,
            **{
                name: money(minor)
                for name, minor in (
                    ("limit", exposure.limit_minor),
                    ("drawn", exposure.drawn_minor),
                    ("held", exposure.held_minor),
                    ("available", exposure.available_minor),
                )
            },
        },
        "utilisation": report.utilisation,
        "limit_changes": [
            {
                "first_day": w.first_day.isoformat(),
                "last_day": w.last_day.isoformat(),
                "lines_on_book": w.lines_on_book,
                "decisions": w.decisions,
                "reasons": w.reasons,
                "rates": {a: share(w.rate(a)) for a in ("freeze", "suspend", "decrease")},
            }
            for w in report.weeks
        ],
        "zero_available": {
            "lines": report.zero_available.lines,
            "by_cause": report.zero_available.by_cause,
            "defects": [_zero_line(z) for z in report.zero_available.defects],
            "latest": [_zero_line(z) for z in report.zero_available.latest],
        },
        "settlement_to_restored": _durations(report.settlement_to_restored),
        "dpd": [
            {"bucket": b.bucket, "loans": b.loans, "principal": money(b.principal_minor)}
            for b in report.dpd_buckets
        ],
        "roll_rates": report.roll_rates,
        "vintages": [
            {
                "cohort": v.cohort,
                "loans": v.loans,
                "share_30_plus": [share(s) for s in v.share(v.reached_30)],
                "share_90_plus": [share(s) for s in v.share(v.reached_90)],
            }
            for v in report.vintages
        ],
        "expected_loss": {
            "total": money(report.expected_loss_minor),
            "ead": money(report.ead_minor),
            "loss_given_default": share(report.loss_given_default),
            "credit_conversion": share(report.credit_conversion),
            "grades": [
                {
                    "grade": g.grade,
                    "lines": g.lines,
                    "drawn": money(g.drawn_minor),
                    "undrawn": money(g.undrawn_minor),
                    "ead": money(g.ead_minor),
                    "pd": share(g.pd, 6),
                    "pd_source": g.pd_source,
                    "matured_lines": g.matured_lines,
                    "matured_bad": g.matured_bad,
                    "expected_loss": money(g.expected_loss_minor),
                }
                for g in report.grades
            ],
        },
        "concentration": {
            name: [
                {
                    "key": c.key,
                    "lines": c.lines,
                    "limit": money(c.limit_minor),
                    "drawn": money(c.drawn_minor),
                }
                for c in rows
            ]
            for name, rows in report.concentration.items()
        },
        "notice_sla": _durations(report.notice_sla)
        | {"decisions_without_notice": report.decisions_without_notice},
        "review_sla": {
            "requested": report.review_sla.requested,
            "decided": _durations(report.review_sla.decided),
            "decided_late": report.review_sla.decided_late,
            "open": report.review_sla.open_now,
            "overdue": report.review_sla.overdue_now,
        },
    }


def _durations(durations: Durations) -> dict[str, Any]:
    def seconds(ms: int | None) -> str | None:
        return None if ms is None else str(Decimal(ms) / 1000)

    return {
        "count": durations.count,
        "p50_seconds": seconds(durations.p50_ms),
        "p99_seconds": seconds(durations.p99_ms),
        "waiting": durations.waiting,
    }


def _zero_line(line: ZeroLine) -> dict[str, Any]:
    return {
        "line_id": line.line_id,
        "status": line.status,
        "cause": line.cause,
        "entry": line.kind,
        "decision_id": line.decision_id,
        "drawdown_id": line.drawdown_id,
        "at": None if line.at is None else line.at.isoformat(),
    }


def funder_document(report: FunderReport) -> dict[str, Any]:
    """A funder's report as JSON (money as decimal strings in major units)."""
    currency = report.currency
    position = report.position

    def money(minor: int) -> str:
        return format_minor(minor, currency)

    return {
        "funder": report.funder,
        "name": report.name,
        "period": report.period,
        "as_of": report.as_of.isoformat(),
        "currency": currency,
        "loans": position.loans,
        "funded": money(position.funded_minor),
        "drawn": money(position.drawn_minor),
        "share_of_book_drawn": share(position.share_of(report.book_drawn_minor), 4),
        "dpd": [
            {"bucket": b.bucket, "loans": b.loans, "principal": money(b.principal_minor)}
            for b in position.dpd_buckets
        ],
        "defaulted": money(position.defaulted_minor),
        "loss_given_default": str(report.loss_given_default),
        "loss_estimate": money(position.loss_minor),
        "policy_changes": [
            {
                "policy": change.policy,
                "approved_at": change.approved_at.isoformat(),
                "effective_at": _iso(change.effective_at),
                "retired_at": _iso(change.retired_at),
                "lines_simulated": change.lines_simulated,
                "lines_adverse": change.lines_adverse,
                "funder_lines": change.lines,
                "funder_lines_by_action": change.lines_by_action,
                "funder_limit_cut": money(change.limit_cut_minor),
                "funder_drawn": money(change.drawn_minor),
            }
            for change in report.policy_changes
        ],
    }


def _iso(at: dt.datetime | None) -> str | None:
    return None if at is None else at.isoformat()
