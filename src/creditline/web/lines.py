"""A borrower's lines: what each holds and why, and asking for a review."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from creditline.web.pages import (
    CheckedForm,
    PageRoute,
    Visit,
    VisitDep,
    field,
    new_key,
    see_other,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
# Where each next step of an explanation leads on these pages.
STEP_PAGES = {
    "update_income": "/verify",
    "verify_identity": "/verify/identity",
    "repay_overdue": "/lines/{line_id}",
    "request_review": "/lines/{line_id}/review",
    "wait_until": None,
    "none": None,
}


def _explained(visit: Visit, line_id: str) -> dict[str, Any]:
    """The line's explanation in the page's language, its steps leading to pages."""
    session = visit.signed_in
    explanation = visit.container.explainer.explain(session.actor, line_id, visit.lang)
    for step in explanation["what_you_can_do"]:
        page = STEP_PAGES.get(step["step"])
        step["page"] = None if page is None else page.format(line_id=line_id)
    return explanation


@router.get("/lines")
def my_lines(visit: VisitDep) -> Response:
    """Each line: limit, available, status; a paused line says why and until when, or what
    the borrower can do."""
    session = visit.signed_in
    lines = visit.container.ledger.list_lines(session.actor)["lines"]
    explained = [(line, _explained(visit, line["id"])) for line in lines]
    return visit.render("lines.html.j2", lines=explained)


@router.get("/lines/{line_id}")
def one_line(visit: VisitDep, line_id: str, done: str | None = None) -> Response:
    """A line, its loans and what can be done with it."""
    session = visit.signed_in
    explanation = _explained(visit, line_id)
    loans = visit.container.loans.line_loans(session.actor, line_id)
    return visit.render(
        "line.html.j2", line_id=line_id, explanation=explanation, loans=loans, done=done
    )


@router.get("/lines/{line_id}/why")
def why(visit: VisitDep, line_id: str, done: str | None = None) -> Response:
    """Why the line is what it is, and what the borrower can do: the explanation."""
    return visit.render(
        "why.html.j2", line_id=line_id, explanation=_explained(visit, line_id), done=done
    )


@router.get("/lines/{line_id}/review")
def review_form(visit: VisitDep, line_id: str) -> Response:
    """Ask for a review: now, by the policy, and a person's too if wanted."""
    explanation = _explained(visit, line_id)
    return visit.render("review.html.j2", line_id=line_id, explanation=explanation, key=new_key())


@router.post("/lines/{line_id}/review")
def review_request(visit: VisitDep, line_id: str, form: CheckedForm) -> Response:
    """Record the request; the automatic review runs at once, a person's by its deadline."""
    human = form.get("who") == "human"
    visit.container.appeals.request(
        visit.signed_in.actor,
        field(form, "key"),
        line_id,
        human=human,
        reason_text=form.get("reason_text") or None,
        statement=(form.get("statement") or None) if human else None,
    )
    return see_other(f"/lines/{line_id}/why?done=review")
