"""HTTP routes of decisions: a line's decisions, one decision, reviews borrowers ask for,
applications, bureau data and the policies that decided."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)

from creditline.api.deps import ActorDep, ContainerDep, IdempotencyKeyDep
from creditline.db.commands import CommandResult
from creditline.decisions.appeals import REVIEWS_LISTED_MAX
from creditline.decisions.applications import Application
from creditline.ledger.service import DECISIONS_LISTED_MAX

router = APIRouter(prefix="/v1")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Consent(_Body):
    borrower_id: StrictStr = Field(min_length=1, max_length=64)


class BureauReport(_Body):
    borrower_id: StrictStr = Field(min_length=1, max_length=64)
    source: StrictStr = Field(default="bureau", min_length=1, max_length=64)
    reported_at: AwareDatetime
    inquiries_1m: StrictInt | None = None
    inquiries_3m: StrictInt | None = None
    inquiries_6m: StrictInt | None = None
    lenders_with_open_loans: StrictInt | None = None
    other_limits_minor: StrictInt | None = Field(default=None, description="in minor units")
    bureau_score: StrictInt | None = None


class ApplicationBody(_Body):
    borrower_id: StrictStr = Field(min_length=1, max_length=64)
    currency: StrictStr = Field(examples=["CNY"])
    income_monthly: StrictStr = Field(description="decimal string", examples=["12000.00"])
    income_evidence: StrictBool
    income_evidence_expires_on: date | None = None
    birth_date: date
    employment: StrictStr = Field(examples=["employed"])


def _reply(result: CommandResult, response: Response) -> dict[str, Any]:
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result.document


@router.post("/applications", status_code=201)
def apply_for_a_line(
    body: ApplicationBody,
    c: ContainerDep,
    actor: ActorDep,
    key: IdempotencyKeyDep,
    response: Response,
) -> dict[str, Any]:
    """Underwrite an application: declined with its reasons, or a line opened at its limit."""
    return _reply(c.underwriting.apply(actor, key, Application(**body.model_dump())), response)


@router.post("/consents", status_code=201)
def record_consent(
    body: Consent, c: ContainerDep, actor: ActorDep, key: IdempotencyKeyDep, response: Response
) -> dict[str, Any]:
    """The borrower's consent to pull their credit report, recorded before any pull."""
    return _reply(c.bureau.record_consent(actor, key, body.borrower_id), response)


@router.post("/bureau-reports", status_code=201)
def load_bureau_report(
    body: BureauReport,
    c: ContainerDep,
    actor: ActorDep,
    key: IdempotencyKeyDep,
    response: Response,
) -> dict[str, Any]:
    """Load a credit-bureau report; refused (`consent_missing`) without the borrower's consent."""
    return _reply(c.bureau.load_report(actor, key, body.model_dump()), response)


class VerificationBody(_Body):
    kind: Literal["identity", "income"]
    line_id: StrictStr | None = Field(default=None, description="only this line (default: all)")
    evidence: dict[str, Any] = Field(
        examples=[
            {
                "income_monthly": "12000.00",
                "currency": "CNY",
                "document_id": "payslip-2026-11",
                "issued_on": "2026-11-20",
                "expires_on": "2027-05-20",
            }
        ]
    )


@router.post("/verifications", status_code=201)
def verify(
    body: VerificationBody,
    c: ContainerDep,
    actor: ActorDep,
    key: IdempotencyKeyDep,
    response: Response,
) -> dict[str, Any]:
    """Re-verify identity or income: a line suspended for it comes back by itself when the
    evidence checks out (no new application); a refusal says why."""
    result = c.verifications.submit(actor, key, body.kind, body.evidence, body.line_id)
    return _reply(result, response)


@router.get("/lines/{line_id}/decisions")
def line_decisions(
    line_id: str,
    c: ContainerDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=DECISIONS_LISTED_MAX)] = 50,
) -> dict[str, Any]:
    """Every decision about the line, newest first, with its reasons in zh-CN and English."""
    return c.ledger.line_decisions(actor, line_id, limit)


@router.get("/lines/{line_id}/explanation")
def explain_line(
    line_id: str,
    c: ContainerDep,
    actor: ActorDep,
    lang: Annotated[Literal["zh-CN", "en"] | None, Query()] = None,
) -> dict[str, Any]:
    """Why the line is what it is and what the borrower can do, in plain zh-CN or English:
    state, last changes with reasons, next steps with dates and paths, the data used (bureau
    items named). Staff also get the decision trace."""
    return c.explainer.explain(actor, line_id, lang)


@router.get("/decisions/{decision_id}")
def get_decision(decision_id: str, c: ContainerDep, actor: ActorDep) -> dict[str, Any]:
    """One decision; staff also see the evidence: policy, score, trace and features."""
    return c.ledger.get_decision(actor, decision_id)


class ReviewRequest(_Body):
    human: StrictBool = Field(default=False, description="ask for a person to review it")
    contest: StrictBool = Field(
        default=False, description="a person reviews it if the automatic review upholds a cut"
    )
    reason_text: StrictStr | None = Field(default=None, max_length=2000)


@router.post("/lines/{line_id}/reviews", status_code=201)
def request_review(
    line_id: str,
    c: ContainerDep,
    actor: ActorDep,
    key: IdempotencyKeyDep,
    response: Response,
    body: ReviewRequest | None = None,
) -> dict[str, Any]:
    """Ask for the line to be reviewed now with the current policy; with `human` (or
    `contest`, when the automatic review upholds an adverse decision) a person reviews it too,
    by a deadline."""
    asked = body or ReviewRequest()
    result = c.appeals.request(
        actor, key, line_id, human=asked.human, contest=asked.contest, reason_text=asked.reason_text
    )
    return _reply(result, response)


@router.get("/reviews")
def review_queue(
    c: ContainerDep,
    actor: ActorDep,
    status: Literal["open", "decided"] = "open",
    limit: Annotated[int, Query(ge=1, le=REVIEWS_LISTED_MAX)] = 50,
) -> dict[str, Any]:
    """Human reviews by deadline, soonest first, overdue ones flagged (staff)."""
    return c.appeals.queue(actor, status, limit)


@router.get("/reviews/{review_id}")
def get_review(review_id: str, c: ContainerDep, actor: ActorDep) -> dict[str, Any]:
    """One human review: the borrower's own, or any for staff."""
    return c.appeals.get(actor, review_id)


class ReviewDecision(_Body):
    outcome: Literal["uphold", "reverse", "modify"]
    reason_codes: list[StrictStr] = Field(default_factory=list, max_length=4)
    note: StrictStr | None = Field(default=None, max_length=2000)
    limit: StrictStr | None = Field(default=None, description="the new limit, with modify")


@router.post("/reviews/{review_id}/decide")
def decide_review(
    review_id: str,
    body: ReviewDecision,
    c: ContainerDep,
    actor: ActorDep,
    key: IdempotencyKeyDep,
    response: Response,
) -> dict[str, Any]:
    """A person's decision (agent, approver, admin): uphold, reverse (the contested change is
    undone through the ledger) or modify (a new limit); the borrower is told."""
    result = c.appeals.decide(
        actor, key, review_id, body.outcome, body.reason_codes, body.note, body.limit
    )
    return _reply(result, response)


@router.get("/policies")
def list_policies(c: ContainerDep, actor: ActorDep) -> dict[str, Any]:
    """Every policy that has decided (id@version, fingerprint, first use), newest first; staff."""
    return c.policies.summaries(actor)


@router.get("/policies/{label}")
def get_policy(label: str, c: ContainerDep, actor: ActorDep) -> dict[str, Any]:
    """The exact document behind a decision's `policy_version` (id@version); staff."""
    return c.policies.get(actor, label)
