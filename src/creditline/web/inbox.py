"""The borrower's inbox."""

from __future__ import annotations

from fastapi import APIRouter, Response

from creditline.web.pages import CheckedForm, PageRoute, VisitDep, field, new_key, see_other

router = APIRouter(route_class=PageRoute, include_in_schema=False)
NOTICES_SHOWN_MAX = 50


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
