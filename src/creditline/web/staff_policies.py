"""Policies in the console: every version and its state; one version's history, its diff
against the active one, its simulation on the book with charts, the changes announced and
waiting; and the lifecycle's steps for the roles that may take them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Response

from creditline.kernel.errors import InvalidInput, NotFound
from creditline.kernel.money import display_amount, format_minor
from creditline.kernel.permissions import Permission, allows
from creditline.web.charts import Bars, svg, table
from creditline.web.pages import CheckedForm, PageRoute, Visit, VisitDep, field, new_key, see_other

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PENDING_SHOWN = 20


@router.get("/staff/policies")
def versions(visit: VisitDep) -> Response:
    """Every version with its state, newest first."""
    listed = visit.container.policies.summaries(visit.signed_in.actor)["policies"]
    return visit.render("staff_policies.html.j2", policies=listed)


@router.get("/staff/policies/{label}")
def version(visit: VisitDep, label: str, done: str | None = None) -> Response:
    """One version: its steps, what it changes, what it would do to the book, what waits."""
    actor, policies = visit.signed_in.actor, visit.container.policies
    history = policies.history(actor, label)
    return visit.render(
        "staff_policy.html.j2",
        history=history,
        diff=policies.diff(actor, label) if history["state"] != "active" else None,
        simulation=_simulation(visit, label),
        pending=policies.pending_changes(actor, label, PENDING_SHOWN),
        may_author=allows(actor, Permission.AUTHOR_POLICY),
        may_approve=allows(actor, Permission.APPROVE_POLICY),
        key=new_key(),
        done=done,
    )


def _simulation(visit: Visit, label: str) -> dict[str, Any] | None:
    """The latest simulation with its charts drawn, or None before the first."""
    try:
        found = visit.container.policies.simulation(visit.signed_in.actor, label)
    except NotFound as missing:
        if missing.code != "simulation_not_found":
            raise
        return None
    currency, lang = found["currency"], visit.lang

    def money(minor: int) -> str:
        return display_amount(format_minor(minor, currency), currency, lang)

    limits = Bars(
        title=found["chart"].get("title", ""),
        values=found["chart"]["data"]["values"],
        category="grade",
        series="policy",
        figure="limit_minor",
        format_figure=money,
    )
    actions = Bars(
        title="actions",
        values=[
            {"action": action, "policy": policy, "lines": count}
            for action, counts in found["actions"].items()
            for policy, count in counts.items()
        ],
        category="action",
        series="policy",
        figure="lines",
    )
    charts = [(svg(bars), table(bars)) for bars in (limits, actions)]
    return found | {"charts": charts, "money": money}


@router.post("/staff/policies/{label}/simulate")
def simulate(visit: VisitDep, label: str, form: CheckedForm) -> Response:
    """Simulate the version on today's book (authors)."""
    visit.container.policies.simulate(visit.signed_in.actor, field(form, "key"), label)
    return see_other(f"/staff/policies/{label}?done=simulated")


@router.post("/staff/policies/{label}/approve")
def approve(visit: VisitDep, label: str, form: CheckedForm) -> Response:
    """Approve (not the author): affected borrowers are told now."""
    effective = form.get("effective_on")
    visit.container.policies.approve(
        visit.signed_in.actor,
        field(form, "key"),
        label,
        None if not effective else _start_of(effective),
        form.get("justification") or None,
    )
    return see_other(f"/staff/policies/{label}?done=approved")


@router.post("/staff/policies/{label}/schedule")
def schedule(visit: VisitDep, label: str, form: CheckedForm) -> Response:
    """Put an approved version on the calendar."""
    visit.container.policies.schedule(
        visit.signed_in.actor, field(form, "key"), label, form.get("justification") or None
    )
    return see_other(f"/staff/policies/{label}?done=scheduled")


@router.post("/staff/policies/{label}/retire")
def retire(visit: VisitDep, label: str, form: CheckedForm) -> Response:
    """Withdraw a version that is not active, with a written justification."""
    visit.container.policies.retire(
        visit.signed_in.actor, field(form, "key"), label, field(form, "justification")
    )
    return see_other(f"/staff/policies/{label}?done=retired")


def _start_of(day: str) -> datetime:
    """The start (00:00 UTC) of a date from the form."""
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise InvalidInput("effective_on must be YYYY-MM-DD", field="effective_on") from None
    return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
