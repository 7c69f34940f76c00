"""HTTP routes of the ledger. Thin: parse, call the service, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from creditline.api.deps import ActorDep, ContainerDep, IdempotencyKeyDep
from creditline.db.commands import CommandResult
from creditline.kernel.reasons import catalogue_documents
from creditline.ledger.service import JOURNAL_PAGE_SIZE_MAX, JOURNAL_SEQ_MAX

router = APIRouter(prefix="/v1")

Amount = Annotated[
    StrictStr, Field(description="decimal string in major units", examples=["5000.00"])
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenLine(_Body):
    borrower_id: StrictStr = Field(min_length=1, max_length=64)
    currency: StrictStr = Field(examples=["CNY"])
    limit: Amount


class PlaceHold(_Body):
    amount: Amount
    term_months: StrictInt = Field(examples=[12])
    product: StrictStr | None = Field(
        default=None, description="product code; the currency's default when absent"
    )
    method: StrictStr | None = Field(
        default=None,
        description="equal_instalment, equal_principal or interest_first; the product's default",
    )


class Quote(_Body):
    amount: Amount
    term_months: StrictInt = Field(examples=[12])
    method: StrictStr | None = None
    product: StrictStr | None = None


class PostDrawdown(_Body):
    amount: Amount | None = None


class Repay(_Body):
    amount: Amount


class ChangeLimit(_Body):
    action: StrictStr = Field(
        examples=["freeze"],
        description="increase, decrease, freeze, unfreeze, suspend, restore or close",
    )
    limit: Amount | None = None
    reason_codes: list[StrictStr] = Field(examples=[["drawdown_velocity"]])
    until: AwareDatetime | None = None
    note: StrictStr | None = None
    policy_version: StrictStr | None = None


def _reply(result: CommandResult, response: Response, status: int = 200) -> dict[str, Any]:
    response.status_code = status
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result.document


@router.post("/lines", status_code=201)
def open_line(
    body: OpenLine, c: ContainerDep, actor: ActorDep, key: IdempotencyKeyDep, response: Response
) -> dict[str, Any]:
    result = c.ledger.open_line(actor, key, body.borrower_id, body.currency, body.limit)
    return _reply(result, response, 201)


@router.get("/lines")
def list_lines(
    c: ContainerDep,
    actor: ActorDep,
    borrower_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    return c.ledger.list_lines(actor, borrower_id)


@router.get("/lines/{line_id}")
def get_line(line_id: str, c: ContainerDep, actor: ActorDep) -> dict[str, Any]:
    return c.ledger.get_line(actor, line_id)


@router.post("/lines/{line_id}/drawdowns", status_code=201)
def place_hold(
    line_id: str,
    body: PlaceHold,
    c: ContainerDep,
    actor: ActorDep,
    key: IdempotencyKeyDep,
    response: Response,
) -> dict[str, Any]:
    result = c.ledger.place_hold(
        actor, key, line_id, body.amount, body.term_months, body.product, body.method
    )
    return _reply(result, response, 201)


@router.post("/lines/{line_id}/quotes")
def quote(line_id: str, body: Quote, c: ContainerDep, actor: ActorDep) -> dict[str, Any]:
    """The schedule, totals and APR of a drawdown, without touching the ledger."""
    return c.loans.quote(actor, line_id, body.amount, body.term_months, body.method, body.product)


@router.get("/lines/{line_id}/loans")
def line_loans(line_id: str, c: ContainerDep, actor: ActorDep) -> dict[str, Any]:
    return c.loans.line_loans(actor, line_id)


@router.get("/loans/{loan_id}")
def get_loan(loan_id: str, c: ContainerDep, actor: ActorDep) -> dict[str, Any]:
    """The loan's schedule with paid, due and overdue state and what settles it today."""
    return c.loans.get_loan(actor, loan_id)


@router.post("/drawdowns/{drawdown_id}/post")
def post_drawdown(
    drawdown_id: str,
    c: ContainerDep,
    actor: ActorDep,
    key: IdempotencyKeyDep,
    response: Response,
    body: PostDrawdown | None = None,
) -> dict[str, Any]:
    amount = body.amount if body is not None else None
    return _reply(c.loans.post_drawdown(actor, key, drawdown_id, amount), response)


@router.post("/drawdowns/{drawdown_id}/void")
def void_drawdown(
    drawdown_id: str,
    c: ContainerDep,
    actor: ActorDep,
    key: IdempotencyKeyDep,
    response: Response,
) -> dict[str, Any]:
    return _reply(c.ledger.void_drawdown(actor, key, drawdown_id), response)


@router.post("/loans/{loan_id}/repayments", status_code=201)
def repay(
    loan_id: str,
    body: Repay,
    c: ContainerDep,
    actor: ActorDep,
    key: IdempotencyKeyDep,
    response: Response,
) -> dict[str, Any]:
    return _reply(c.loans.repay(actor, key, loan_id, body.amount), response, 201)


@router.post("/lines/{line_id}/limit-changes", status_code=201)
def change_limit(
    line_id: str,
    body: ChangeLimit,
    c: ContainerDep,
    actor: ActorDep,
    key: IdempotencyKeyDep,
    response: Response,
) -> dict[str, Any]:
    result = c.ledger.change_limit(
        actor,
        key,
        line_id,
        body.action,
        body.reason_codes,
        limit=body.limit,
        until=body.until,
        note=body.note,
        policy_version=body.policy_version,
    )
    return _reply(result, response, 201)


@router.get("/lines/{line_id}/journal")
def journal(
    line_id: str,
    c: ContainerDep,
    actor: ActorDep,
    after_seq: Annotated[int, Query(ge=0, le=JOURNAL_SEQ_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=JOURNAL_PAGE_SIZE_MAX)] = 100,
) -> dict[str, Any]:
    return c.ledger.journal(actor, line_id, after_seq, limit)


@router.get("/reason-codes")
def reason_codes(c: ContainerDep) -> list[dict[str, Any]]:
    return catalogue_documents()
