"""HTTP routes of decisions: a line's decisions, one decision, and reviews borrowers ask for."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from creditline.api.deps import ActorDep, ContainerDep, IdempotencyKeyDep
from creditline.decisions.service import DECISIONS_LISTED_MAX

router = APIRouter(prefix="/v1")


@router.get("/lines/{line_id}/decisions")
def line_decisions(
    line_id: str,
    c: ContainerDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=DECISIONS_LISTED_MAX)] = 50,
) -> dict[str, Any]:
    """Every decision about the line, newest first, with its reasons in zh-CN and English."""
    return c.decisions.line_decisions(actor, line_id, limit)


@router.get("/decisions/{decision_id}")
def get_decision(decision_id: str, c: ContainerDep, actor: ActorDep) -> dict[str, Any]:
    """One decision; staff also see the evidence: policy, score, trace and features."""
    return c.decisions.get_decision(actor, decision_id)


@router.post("/lines/{line_id}/reviews", status_code=201)
def request_review(
    line_id: str, c: ContainerDep, actor: ActorDep, key: IdempotencyKeyDep, response: Response
) -> dict[str, Any]:
    """Ask for the line to be reviewed now with the current policy."""
    response.status_code = 201
    return c.decisions.request_review(actor, line_id)
