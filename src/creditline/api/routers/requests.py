"""Borrowers' requests: to close their line or lower its limit, withdrawn while open, and the
staff queue of open ones by age.

A withdrawal is `POST /v1/requests/{request_id}/withdraw`, not a DELETE: the request is kept,
`withdrawn`, and like every command it takes an `Idempotency-Key`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field, StrictStr

from creditline.api.bodies import Amount, Body
from creditline.api.deps import IdempotencyKeyDep, LedgerDep, PermissionRoute, requires
from creditline.api.documents import answers
from creditline.api.documents import lines as docs
from creditline.api.replies import command_reply
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission
from creditline.ledger.service import REQUESTS_LISTED_MAX

router = APIRouter(prefix="/v1", route_class=PermissionRoute)

PageSize = Annotated[int, Query(ge=1, le=REQUESTS_LISTED_MAX)]
After = Annotated[
    str | None,
    Query(max_length=64, description="the id of the last request of the previous page"),
]


class BorrowerRequestBody(Body):
    kind: StrictStr = Field(examples=["decrease"], description="close or decrease")
    limit: Amount | None = None


@router.post("/lines/{line_id}/requests", **answers(docs.BorrowerRequest, 201))
def request_change(
    line_id: str,
    body: BorrowerRequestBody,
    ledger: LedgerDep,
    actor: Annotated[Actor, requires(Permission.REQUEST_LINE_CHANGE)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """The borrower asks to close their line or to lower its limit (never to raise it), one
    open request per line (`borrower_request_already_open`). They are told what they asked,
    that a person acts on it by `due_at` (the profile's `review_days`) and that they may
    withdraw it; staff grant it with a limit change naming the request."""
    result = ledger.requests.ask(actor, key, line_id, body.kind, body.limit)
    return command_reply(result, response, 201)


@router.get("/lines/{line_id}/requests", **answers(docs.LineRequests))
def line_requests(
    line_id: str,
    ledger: LedgerDep,
    actor: Annotated[Actor, requires(Permission.READ_LINES)],
    limit: PageSize = 50,
    after: After = None,
) -> dict[str, Any]:
    """The line's requests, oldest first, a page after `after` (`next_after` names the next
    page's start): a borrower sees their own line's, staff any line's."""
    return ledger.requests.of_line(actor, line_id, limit, after)


@router.post("/requests/{request_id}/withdraw", **answers(docs.BorrowerRequest))
def withdraw_request(
    request_id: str,
    ledger: LedgerDep,
    actor: Annotated[Actor, requires(Permission.REQUEST_LINE_CHANGE)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """The borrower takes back their open request: it is kept as `withdrawn`, and a limit
    change naming it is refused (`borrower_request_missing`). A request already granted or
    withdrawn is `borrower_request_not_open`."""
    return command_reply(ledger.requests.withdraw(actor, key, request_id), response)


@router.get("/requests", **answers(docs.RequestPage))
def request_queue(
    ledger: LedgerDep,
    actor: Annotated[Actor, requires(Permission.READ_STAFF_VIEWS)],
    status: Literal["open", "done", "withdrawn"] = "open",
    limit: PageSize = 50,
    after: After = None,
) -> dict[str, Any]:
    """Borrowers' requests in `status` across the book, oldest first, each with its line,
    borrower, kind, the limit asked, when it was made and its deadline (`due_at`, `overdue`);
    a page after `after` (`next_after` names the next page's start) (staff)."""
    return ledger.requests.queue(actor, status, limit, after)
