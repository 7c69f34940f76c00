"""Champion/challenger experiments: a simulated version decides, for real, a slice of the
book drawn by hash, with its guardrails; started and stopped by an approver, reported by cell."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import Field, StrictInt, StrictStr

from creditline.api.bodies import Body
from creditline.api.deps import IdempotencyKeyDep, PermissionRoute, PoliciesDep, requires
from creditline.api.documents import answers
from creditline.api.documents import experiments as docs
from creditline.api.replies import command_reply
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission

router = APIRouter(prefix="/v1", route_class=PermissionRoute)

Staff = Annotated[Actor, requires(Permission.READ_STAFF_VIEWS)]
Approver = Annotated[Actor, requires(Permission.APPROVE_POLICY)]


class NewExperiment(Body):
    challenger: StrictStr = Field(max_length=160, description="the simulated version, id@version")
    share_bp: StrictInt = Field(description="the challenger's share of the book, 1–5000 bp")
    salt: StrictStr | None = Field(
        default=None,
        max_length=64,
        description="drawn into each line's hash (default: the experiment's id)",
    )
    adverse_rate_max_bp: StrictInt = Field(
        description="the challenger cell's largest adverse rate, 0–10000 bp"
    )
    exposure_change_max_bp: StrictInt = Field(
        description="the challenger cell's largest change of its lines' limits, 0–10000 bp"
    )
    decisions_min: StrictInt | None = Field(
        default=None, description="decisions in the cell before a guardrail is looked at (20)"
    )
    justification: StrictStr = Field(min_length=1, max_length=2000)


class Stop(Body):
    justification: StrictStr = Field(min_length=1, max_length=2000)


@router.post("/experiments", **answers(docs.Started, 201))
def create_experiment(
    body: NewExperiment,
    policies: PoliciesDep,
    actor: Approver,
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Start an experiment: the challenger's approval for its cell (not its author's), on a
    fresh simulation; the cell's adversely affected borrowers are told now."""
    settings = body.model_dump(exclude={"challenger", "justification"}, exclude_none=True)
    result = policies.create_experiment(actor, key, body.challenger, settings, body.justification)
    return command_reply(result, response, 201)


@router.get("/experiments", **answers(docs.Experiments))
def list_experiments(policies: PoliciesDep, actor: Staff) -> dict[str, Any]:
    """Every experiment, newest first; staff."""
    return policies.experiments(actor)


@router.get("/experiments/{experiment_id}", **answers(docs.ExperimentReport))
def experiment_report(experiment_id: str, policies: PoliciesDep, actor: Staff) -> dict[str, Any]:
    """An experiment's events and its figures by cell: decisions, adverse rate, exposure before
    and after, the newest decisions; staff."""
    return policies.experiment_report(actor, experiment_id)


@router.post("/experiments/{experiment_id}/stop", **answers(docs.Stopped))
def stop_experiment(
    experiment_id: str,
    body: Stop,
    policies: PoliciesDep,
    actor: Approver,
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Stop an experiment: the challenger's lines are decided by the champion again."""
    result = policies.stop_experiment(actor, key, experiment_id, body.justification)
    return command_reply(result, response)
