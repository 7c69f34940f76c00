"""Drawdowns: a hold on a line's credit, posted as a loan or voided."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import Field, StrictInt, StrictStr

from creditline.api.bodies import Amount, Body
from creditline.api.deps import (
    IdempotencyKeyDep,
    LedgerDep,
    LoansDep,
    PermissionRoute,
    requires,
)
from creditline.api.documents import answers
from creditline.api.documents import lines as docs
from creditline.api.documents import loans as loan_docs
from creditline.api.replies import command_reply
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission

router = APIRouter(prefix="/v1", route_class=PermissionRoute)


class PlaceHold(Body):
    amount: Amount
    term_months: StrictInt = Field(examples=[12])
    product: StrictStr | None = Field(
        default=None, description="product code; the currency's default when absent"
    )
    method: StrictStr | None = Field(
        default=None,
        description="equal_instalment, equal_principal or interest_first; the product's default",
    )


class PostDrawdown(Body):
    amount: Amount | None = None
    # Who funds the loan (CN-3): percent strings by funder (`lender`: the lender's own share),
    # staff only; default: the loan's profile's split.
    funding: dict[str, str] | None = None


@router.post("/lines/{line_id}/drawdowns", **answers(docs.Hold, 201))
def place_hold(
    line_id: str,
    body: PlaceHold,
    ledger: LedgerDep,
    actor: Annotated[Actor, requires(Permission.DRAW)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Hold credit for a drawdown, priced by its product (the currency's default when absent):
    the answer carries the quote the loan will keep. The hold expires unless posted or voided
    in time."""
    result = ledger.place_hold(
        actor, key, line_id, body.amount, body.term_months, body.product, body.method
    )
    return command_reply(result, response, 201)


@router.post("/drawdowns/{drawdown_id}/post", **answers(loan_docs.Posted))
def post_drawdown(
    drawdown_id: str,
    loans: LoansDep,
    actor: Annotated[Actor, requires(Permission.DRAW)],
    key: IdempotencyKeyDep,
    response: Response,
    body: PostDrawdown | None = None,
) -> Response:
    """Turn a held drawdown into a loan of `amount` (default: all of it); the rest of the
    hold is released."""
    amount = body.amount if body is not None else None
    funding = body.funding if body is not None else None
    return command_reply(loans.post_drawdown(actor, key, drawdown_id, amount, funding), response)


@router.post("/drawdowns/{drawdown_id}/void", **answers(docs.Voided))
def void_drawdown(
    drawdown_id: str,
    ledger: LedgerDep,
    actor: Annotated[Actor, requires(Permission.DRAW)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Release a held drawdown's credit without lending."""
    return command_reply(ledger.void_drawdown(actor, key, drawdown_id), response)
