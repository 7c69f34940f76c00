"""The borrower's inbox, and the income re-verification form."""

from __future__ import annotations

from fastapi import APIRouter, Response

from creditline.web.pages import CheckedForm, PageRoute, VisitDep, field, new_key, see_other

router = APIRouter(route_class=PageRoute, include_in_schema=False)
NOTICES_SHOWN_MAX = 50
CURRENCY_DEFAULT = "CNY"


@router.get("/inbox")
def inbox(visit: VisitDep) -> Response:
    """The borrower's notices, newest first, in the page's language."""
    listed = visit.container.notices.inbox(
        visit.signed_in.actor, visit.lang, False, NOTICES_SHOWN_MAX
    )
    return visit.render("inbox.html.j2", notices=listed["notices"], key=new_key())


@router.post("/inbox/{notice_id}/read")
def mark_read(visit: VisitDep, notice_id: str, form: CheckedForm) -> Response:
    """Mark a notice read."""
    visit.container.notices.mark_read(visit.signed_in.actor, field(form, "key"), notice_id)
    return see_other("/inbox")


@router.get("/verify")
def verify_form(visit: VisitDep) -> Response:
    """New income evidence: amount, document, dates, and the line it is for."""
    lines = visit.container.ledger.list_lines(visit.signed_in.actor)["lines"]
    return visit.render("verify.html.j2", lines=lines, key=new_key(), result=None)


@router.post("/verify")
def verify(visit: VisitDep, form: CheckedForm) -> Response:
    """Send the evidence: a line suspended for it comes back when it checks out."""
    actor = visit.signed_in.actor
    lines = visit.container.ledger.list_lines(actor)["lines"]
    line_id = form.get("line_id") or None
    currencies = [line["currency"] for line in lines if line_id in (None, line["id"])]
    evidence = {
        "income_monthly": field(form, "income_monthly"),
        "currency": currencies[0] if currencies else CURRENCY_DEFAULT,
        "document_id": field(form, "document_id"),
        "issued_on": field(form, "issued_on"),
        "expires_on": field(form, "expires_on"),
    }
    result = visit.container.verifications.submit(
        actor, f"web-verify-{field(form, 'key')}", "income", evidence, line_id
    )
    after = visit.container.ledger.list_lines(actor)["lines"]
    return visit.render("verify.html.j2", lines=after, key=new_key(), result=result.document)
