"""Lines: opening one, reading them, changing their limit or status, and their journal."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, Field, StrictStr

from creditline.api.bodies import Amount, Body
from creditline.api.deps import IdempotencyKeyDep, LedgerDep, PermissionRoute, requires
from creditline.api.documents import answers
from creditline.api.documents import lines as docs
from creditline.api.replies import command_reply
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission
from creditline.ledger.service import JOURNAL_PAGE_SIZE_MAX, JOURNAL_SEQ_MAX

router = APIRouter(prefix="/v1", route_class=PermissionRoute)


class OpenLine(Body):
    borrower_id: StrictStr = Field(min_length=1, max_length=64)
    currency: StrictStr = Field(examples=["CNY"])
    limit: Amount
    note: StrictStr | None = Field(
        default=None,
        description="why: needed to open a line for a borrower who already holds the "
        "profile's number of open lines in the currency",
    )
    reason_codes: list[StrictStr] | None = Field(
        default=None,
        examples=[["application_approved"]],
        description="the reasons of the decision that grants the line its limit (default: "
        "application_approved)",
    )


class ChangeLimit(Body):
    action: StrictStr = Field(
        examples=["freeze"],
        description="increase, decrease, freeze, unfreeze, suspend, restore or close",
    )
    limit: Amount | None = None
    reason_codes: list[StrictStr] = Field(examples=[["drawdown_velocity"]])
    until: AwareDatetime | None = None
    effective_at: AwareDatetime | None = Field(
        default=None,
        description="with close: when the close takes effect (at least the profile's "
        "termination notice after now; default: as early as that notice allows)",
    )
    note: StrictStr | None = None
    policy_version: StrictStr | None = None
    request_id: StrictStr | None = Field(
        default=None,
        description="the borrower's open request this decision grants (with borrower_request "
        "or account_closed_by_borrower)",
    )


@router.post("/lines", **answers(docs.Line, 201))
def open_line(
    body: OpenLine,
    ledger: LedgerDep,
    actor: Annotated[Actor, requires(Permission.OPEN_LINE)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Open an active line for a borrower with its limit in its currency, granted by a
    decision of the staff member (listed with the line's decisions, with the cap figures),
    within the policy's bounds and the profile's caps (`limit_above_cap`); another line beyond
    the profile's number per borrower needs a `note` (`line_cap_reached`)."""
    result = ledger.open_line(
        actor,
        key,
        body.borrower_id,
        body.currency,
        body.limit,
        note=body.note,
        reason_codes=body.reason_codes,
    )
    return command_reply(result, response, 201)


@router.get("/lines", **answers(docs.Lines))
def list_lines(
    ledger: LedgerDep,
    actor: Annotated[Actor, requires(Permission.READ_LINES)],
    borrower_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """A borrower's lines, oldest first: a borrower lists their own, staff name the borrower."""
    return ledger.list_lines(actor, borrower_id)


@router.get("/lines/{line_id}", **answers(docs.Line))
def get_line(
    line_id: str, ledger: LedgerDep, actor: Annotated[Actor, requires(Permission.READ_LINES)]
) -> dict[str, Any]:
    """The line's limit, balances and status; a borrower sees only their own lines."""
    return ledger.get_line(actor, line_id)


@router.post("/lines/{line_id}/limit-changes", **answers(docs.DecisionTaken, 201))
def change_limit(
    line_id: str,
    body: ChangeLimit,
    ledger: LedgerDep,
    # Which of the two the action needs is the ledger's to say: it refuses an agent who raises,
    # cuts or closes a line.
    actor: Annotated[Actor, requires(Permission.FREEZE_LINE, Permission.CHANGE_LIMIT)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Record a decision about the line, with its reasons, and apply it: the only way a limit
    or a status changes. Freezing, suspending and restoring need `freeze, suspend or restore a
    line`; raising, cutting and closing need `raise, cut or close a line`. A decrease below
    what the borrower uses is refused, never clamped."""
    result = ledger.change_limit(
        actor,
        key,
        line_id,
        body.action,
        body.reason_codes,
        limit=body.limit,
        until=body.until,
        note=body.note,
        policy_version=body.policy_version,
        request_id=body.request_id,
        effective_at=body.effective_at,
    )
    return command_reply(result, response, 201)


@router.get("/lines/{line_id}/journal", **answers(docs.Journal))
def journal(
    line_id: str,
    ledger: LedgerDep,
    actor: Annotated[Actor, requires(Permission.READ_LINES)],
    after_seq: Annotated[int, Query(ge=0, le=JOURNAL_SEQ_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=JOURNAL_PAGE_SIZE_MAX)] = 100,
) -> dict[str, Any]:
    """A page of the line's journal in order, after `after_seq`, each entry with its hash."""
    return ledger.journal(actor, line_id, after_seq, limit)
