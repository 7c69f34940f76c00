"""Re-verification: new income evidence, or an identity check. A line suspended for either
comes back by itself when the evidence checks out; no new application is needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from creditline.web.pages import CheckedForm, PageRoute, Visit, VisitDep, field, new_key

router = APIRouter(route_class=PageRoute, include_in_schema=False)
CURRENCY_DEFAULT = "CNY"
IDENTITY_DOCUMENTS = ("id_card", "passport")


@router.get("/verify")
def income_form(visit: VisitDep) -> Response:
    """New income evidence: amount, document, dates, and the line it is for."""
    return _form(visit, "verify.html.j2")


@router.post("/verify")
def income(visit: VisitDep, form: CheckedForm) -> Response:
    """Send the evidence: a line suspended for it comes back when it checks out."""
    lines = visit.container.ledger.list_lines(visit.signed_in.actor)["lines"]
    line_id = form.get("line_id") or None
    currencies = [line["currency"] for line in lines if line_id in (None, line["id"])]
    evidence = {
        "income_monthly": field(form, "income_monthly"),
        "currency": currencies[0] if currencies else CURRENCY_DEFAULT,
        "document_id": field(form, "document_id"),
        "issued_on": field(form, "issued_on"),
        "expires_on": field(form, "expires_on"),
    }
    return _submitted(visit, form, "income", evidence, "verify.html.j2")


@router.get("/verify/identity")
def identity_form(visit: VisitDep) -> Response:
    """An identity check: the document, its number and the name on it."""
    return _form(visit, "verify_identity.html.j2")


@router.post("/verify/identity")
def identity(visit: VisitDep, form: CheckedForm) -> Response:
    """Send the identity evidence: a line held for it comes back when it checks out."""
    evidence = {
        "document_type": field(form, "document_type"),
        "document_number": field(form, "document_number"),
        "full_name": field(form, "full_name"),
    }
    return _submitted(visit, form, "identity", evidence, "verify_identity.html.j2")


def _form(visit: Visit, template: str) -> Response:
    lines = visit.container.ledger.list_lines(visit.signed_in.actor)["lines"]
    return visit.render(
        template, lines=lines, key=new_key(), result=None, documents=IDENTITY_DOCUMENTS
    )


def _submitted(
    visit: Visit, form: dict[str, str], kind: str, evidence: dict[str, Any], template: str
) -> Response:
    """The verdict on the page, with the lines as they are after it."""
    actor = visit.signed_in.actor
    result = visit.container.verifications.submit(
        actor, f"web-verify-{field(form, 'key')}", kind, evidence, form.get("line_id") or None
    )
    lines = visit.container.ledger.list_lines(actor)["lines"]
    return visit.render(
        template, lines=lines, key=new_key(), result=result.document, documents=IDENTITY_DOCUMENTS
    )
