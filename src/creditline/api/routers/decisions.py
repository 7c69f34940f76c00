"""Decisions: a line's decisions, one decision, why a line is what it is, and the reason codes
decisions name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from creditline.api.deps import ExplainerDep, LedgerDep, PermissionRoute, requires
from creditline.api.documents import answers
from creditline.api.documents import explanations as explanation_docs
from creditline.api.documents import lines as docs
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission
from creditline.kernel.reasons import catalogue_documents
from creditline.ledger.service import DECISIONS_LISTED_MAX

router = APIRouter(prefix="/v1", route_class=PermissionRoute)


@router.get("/lines/{line_id}/decisions", **answers(docs.LineDecisions))
def line_decisions(
    line_id: str,
    ledger: LedgerDep,
    actor: Annotated[Actor, requires(Permission.READ_LINES)],
    limit: Annotated[int, Query(ge=1, le=DECISIONS_LISTED_MAX)] = 50,
) -> dict[str, Any]:
    """Every decision about the line, newest first, with its reasons in zh-CN and English."""
    return ledger.line_decisions(actor, line_id, limit)


@router.get("/lines/{line_id}/explanation", **answers(explanation_docs.Explanation))
def explain_line(
    line_id: str,
    explainer: ExplainerDep,
    actor: Annotated[Actor, requires(Permission.READ_LINES)],
    lang: Annotated[Literal["zh-CN", "en"] | None, Query()] = None,
) -> dict[str, Any]:
    """Why the line is what it is and what the borrower can do, in plain zh-CN or English:
    state, last changes with reasons, next steps with dates and paths, the data used (bureau
    items named). Staff also get the decision trace."""
    return explainer.explain(actor, line_id, lang)


@router.get("/decisions/{decision_id}", **answers(docs.StoredDecision))
def get_decision(
    decision_id: str,
    ledger: LedgerDep,
    actor: Annotated[Actor, requires(Permission.READ_LINES)],
) -> dict[str, Any]:
    """One decision; staff also see the evidence: policy, score, trace and features."""
    return ledger.get_decision(actor, decision_id)


@router.get(
    "/reason-codes",
    dependencies=[requires(Permission.READ_LINES)],
    response_model=None,
    responses={200: {"model": list[docs.ReasonCode]}},
)
def reason_codes() -> list[dict[str, Any]]:
    """The reason-code catalogue, for anyone signed in: each code's borrower text in zh-CN and
    English, the operator's text and the borrower's next step."""
    return catalogue_documents()
