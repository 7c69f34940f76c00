"""The human-review queue by deadline, overdue ones flagged, and the form a person decides one
with: uphold, reverse (the contested change is undone through the ledger) or modify."""

from __future__ import annotations

import re

from fastapi import APIRouter, Response

from creditline.kernel.permissions import Permission, allows, require
from creditline.ledger.views import stored_decision_document
from creditline.web.pages import CheckedForm, PageRoute, VisitDep, field, new_key, see_other

router = APIRouter(route_class=PageRoute, include_in_schema=False)
QUEUE_SHOWN_MAX = 100
_CODES = re.compile(r"[\s,]+")


@router.get("/staff/reviews")
def queue(visit: VisitDep, status: str = "open") -> Response:
    """Open reviews, soonest deadline first (or the decided ones)."""
    actor = visit.signed_in.actor
    listed = visit.container.appeals.queue(actor, status, QUEUE_SHOWN_MAX)
    return visit.render("staff_reviews.html.j2", showing=status, queue=listed)


@router.get("/staff/reviews/{review_id}")
def review(visit: VisitDep, review_id: str, done: str | None = None) -> Response:
    """One review: the borrower's words, the decision contested with its reasons and evidence,
    the line now; the decide form for a role that may decide."""
    actor, container = visit.signed_in.actor, visit.container
    require(actor, Permission.READ_STAFF_VIEWS)
    found = container.appeals.get(actor, review_id)
    contested = found["contested_decision_id"]
    stored = None if contested is None else container.ledger.stored_decision(actor, contested)
    decision = None if stored is None else stored_decision_document(stored, staff=True)
    return visit.render(
        "staff_review.html.j2",
        review=found,
        contested=decision,
        line=container.ledger.get_line(actor, found["line_id"]),
        may_decide=allows(actor, Permission.DECIDE_REVIEW) and found["status"] == "open",
        key=new_key(),
        done=done,
    )


@router.post("/staff/reviews/{review_id}")
def decide(visit: VisitDep, review_id: str, form: CheckedForm) -> Response:
    """A person's decision; the borrower is told (the service checks the role)."""
    codes = [code for code in _CODES.split(form.get("reason_codes", "")) if code]
    outcome = field(form, "outcome")
    # The form always has the limit box: what it holds counts with modify only.
    limit = field(form, "limit") if outcome == "modify" else None
    visit.container.appeals.decide(
        visit.signed_in.actor,
        field(form, "key"),
        review_id,
        outcome,
        codes,
        form.get("note") or None,
        limit,
    )
    return see_other(f"/staff/reviews/{review_id}?done=decided")
