"""The staff console: finding a line, its whole story on one page, and the reconciler's
check of the books. Every figure comes from the services, which check the visitor's role; a
page shows an action only to a role that may take it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from creditline.kernel.permissions import Permission, require
from creditline.ledger.views import stored_decision_document
from creditline.web.pages import CheckedForm, PageRoute, Visit, VisitDep

router = APIRouter(route_class=PageRoute, include_in_schema=False)
TIMELINE_ITEMS_MAX = 100
FINDINGS_SHOWN_MAX = 200


@router.get("/staff")
def home(visit: VisitDep, q: str | None = None) -> Response:
    """Search by line id or borrower id (their first characters); the work waiting."""
    actor = visit.signed_in.actor
    require(actor, Permission.READ_STAFF_VIEWS)
    found = None if not q else visit.container.ledger.find_lines(actor, q.strip())["lines"]
    queue = visit.container.appeals.queue(actor, "open", 1)
    return visit.render("staff.html.j2", q=q or "", found=found, overdue=queue["overdue"])


@router.get("/staff/lines/{line_id}")
def line_timeline(visit: VisitDep, line_id: str) -> Response:
    """The line now, and everything that happened to it, newest first: the journal, the
    decisions with their reasons and evidence, the notices and how they went out, the
    reviews."""
    actor, container = visit.signed_in.actor, visit.container
    require(actor, Permission.READ_STAFF_VIEWS)
    line = container.ledger.get_line(actor, line_id)
    decisions = [
        stored_decision_document(stored, staff=True)
        for stored in container.ledger.decisions_of(actor, line_id, TIMELINE_ITEMS_MAX)
    ]
    return visit.render(
        "staff_line.html.j2",
        line=line,
        timeline=timeline(visit, line_id, line["version"], decisions),
        open_review=container.appeals.open_review_of(line_id),
    )


def timeline(
    visit: Visit, line_id: str, version: int, decisions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The line's events from each capability, newest first (the latest of each kind)."""
    actor, container = visit.signed_in.actor, visit.container
    after = max(0, version - TIMELINE_ITEMS_MAX)
    entries = container.ledger.journal(actor, line_id, after, TIMELINE_ITEMS_MAX)["entries"]
    notices = container.notices.line_notices(actor, line_id, visit.lang)["notices"]
    reviews = container.appeals.line_reviews(actor, line_id)["reviews"]
    events = [
        *({"kind": "journal", "at": e["at"], "item": e} for e in entries),
        *({"kind": "decision", "at": d["at"], "item": d} for d in decisions),
        *({"kind": "notice", "at": n["created_at"], "item": n} for n in notices),
        *({"kind": "review", "at": r["requested_at"], "item": r} for r in reviews),
    ]
    # Same instant: the decision before its journal entry before its notice.
    order = {"review": 0, "decision": 1, "journal": 2, "notice": 3}
    events.sort(key=lambda event: (event["at"], order[event["kind"]]), reverse=True)
    return events


@router.get("/staff/reconcile")
def reconcile_form(visit: VisitDep) -> Response:
    """Run the reconciler's checks of the whole book, on demand."""
    require(visit.signed_in.actor, Permission.READ_STAFF_VIEWS)
    return visit.render("staff_reconcile.html.j2", findings=None)


@router.post("/staff/reconcile")
def reconcile(visit: VisitDep, form: CheckedForm) -> Response:
    """Every finding of one consistent snapshot (none: the books agree)."""
    require(visit.signed_in.actor, Permission.READ_STAFF_VIEWS)
    container = visit.container
    findings = [finding.as_dict() for finding in container.reconciler.run()]
    return visit.render(
        "staff_reconcile.html.j2",
        findings=findings[:FINDINGS_SHOWN_MAX],
        findings_total=len(findings),
        lines_total=container.reconciler.count_lines(),
        checked_at=container.clock.now().isoformat(timespec="seconds"),
    )
