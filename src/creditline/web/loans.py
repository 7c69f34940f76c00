"""Borrowing and repaying: the draw form, its quote (APR first, CN-4), the confirmation that
holds and posts the drawdown, a loan's schedule and payoff, and a repayment."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from creditline.kernel.errors import DomainError, InvalidInput
from creditline.web.pages import (
    CheckedForm,
    PageRoute,
    Visit,
    VisitDep,
    field,
    new_key,
    see_other,
)
from creditline.web.texts import error_message

router = APIRouter(route_class=PageRoute, include_in_schema=False)
TERM_DEFAULT_MONTHS = 12


def _term(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise InvalidInput("the term is a whole number of months", field="term_months") from None


def _draw_context(visit: Visit, line_id: str) -> dict[str, Any]:
    """What the draw form shows: the line and the terms its product offers."""
    line = visit.container.ledger.get_line(visit.signed_in.actor, line_id)
    return {
        "line": line,
        "terms": visit.container.loans.offered_terms(line["currency"]),
        "term_default": TERM_DEFAULT_MONTHS,
    }


@router.get("/lines/{line_id}/draw")
def draw_form(visit: VisitDep, line_id: str) -> Response:
    """How much, over how long."""
    return visit.render("draw.html.j2", **_draw_context(visit, line_id), amount="", error=None)


@router.get("/lines/{line_id}/quote")
def quote(
    visit: VisitDep, line_id: str, amount: str = "", term_months: str | None = None
) -> Response:
    """What the drawdown would cost, its APR first; a confirm button that borrows. Asking
    changes nothing. A refused amount or term shows the form again, saying why."""
    context = _draw_context(visit, line_id)
    try:
        term = _term(term_months)
        quoted = visit.container.loans.quote(visit.signed_in.actor, line_id, amount.strip(), term)
    except DomainError as refused:
        error = error_message(refused, visit.lang)
        page = visit.render("draw.html.j2", status=422, **context, amount=amount, error=error)
        return page
    return visit.render("quote.html.j2", **context, quote=quoted, key=new_key())


@router.post("/lines/{line_id}/draw")
def draw(visit: VisitDep, line_id: str, form: CheckedForm) -> Response:
    """Borrow as quoted: hold the credit, then post the hold as a loan. Each step has its
    own key from the form's, so a second click makes no second loan."""
    actor = visit.signed_in.actor
    key = field(form, "key")
    held = visit.container.ledger.place_hold(
        actor, f"web-hold-{key}", line_id, field(form, "amount"), _term(form.get("term_months"))
    )
    posted = visit.container.loans.post_drawdown(actor, f"web-post-{key}", held.document["id"])
    return see_other(f"/loans/{posted.document['loan_id']}?done=drawn")


@router.get("/loans/{loan_id}")
def loan(visit: VisitDep, loan_id: str, done: str | None = None) -> Response:
    """The loan's schedule, what settles it today, and the repayment form."""
    found = visit.container.loans.get_loan(visit.signed_in.actor, loan_id)
    return visit.render("loan.html.j2", loan=found, key=new_key(), done=done)


@router.post("/loans/{loan_id}/repay")
def repay(visit: VisitDep, loan_id: str, form: CheckedForm) -> Response:
    """Repay: principal repaid is available on the line again at once."""
    repaid = visit.container.loans.repay(
        visit.signed_in.actor, f"web-repay-{field(form, 'key')}", loan_id, field(form, "amount")
    )
    done = "settled" if repaid.document["loan_status"] == "settled" else "repaid"
    return see_other(f"/loans/{loan_id}?done={done}")
