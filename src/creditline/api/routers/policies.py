"""Policies: versions submitted, simulated on the book, approved by a second person with
notice to the borrowers affected, scheduled, retired; and the exact document behind a
decision."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import AwareDatetime, Field, StrictStr

from creditline.api.bodies import Body
from creditline.api.deps import IdempotencyKeyDep, PermissionRoute, PoliciesDep, requires
from creditline.api.documents import answers
from creditline.api.documents import policies as docs
from creditline.api.replies import command_reply
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission

router = APIRouter(prefix="/v1", route_class=PermissionRoute)

Staff = Annotated[Actor, requires(Permission.READ_STAFF_VIEWS)]
Author = Annotated[Actor, requires(Permission.AUTHOR_POLICY)]
Approver = Annotated[Actor, requires(Permission.APPROVE_POLICY)]


class Submission(Body):
    document: dict[str, Any] = Field(description="the policy document (as its YAML, in JSON)")


class Approval(Body):
    effective_at: AwareDatetime | None = Field(
        default=None,
        description="when the version takes effect: at least the profile's notice period after "
        "now when the simulation found borrowers adversely affected (default: as early as that "
        "allows)",
    )
    justification: StrictStr | None = Field(
        default=None,
        max_length=2000,
        description="why; required of an admin approving above the guardrail",
    )


class Justified(Body):
    justification: StrictStr | None = Field(default=None, max_length=2000)


@router.get("/policies", **answers(docs.Policies))
def list_policies(policies: PoliciesDep, actor: Staff) -> dict[str, Any]:
    """Every policy version with its state, and every policy that has decided; staff."""
    return policies.summaries(actor)


@router.post("/policies", **answers(docs.Transition, 201))
def submit_policy(
    body: Submission,
    policies: PoliciesDep,
    actor: Author,
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Submit a new version: stored as a draft, then linted (its problems, if any, listed)."""
    return command_reply(policies.submit(actor, key, body.document), response, 201)


@router.get("/policies/{label}", **answers(docs.Policy))
def get_policy(label: str, policies: PoliciesDep, actor: Staff) -> dict[str, Any]:
    """The exact document behind a label id@version (a decision's `policy_version`); staff."""
    return policies.get(actor, label)


@router.post("/policies/{label}/simulations", **answers(docs.Simulation, 201))
def simulate_policy(
    label: str, policies: PoliciesDep, actor: Author, key: IdempotencyKeyDep, response: Response
) -> Response:
    """Decide today's book with the version and with the active one: counts by action and
    reason, lines adversely affected, exposure by grade and income band, the rule diff."""
    return command_reply(policies.simulate(actor, key, label), response, 201)


@router.get("/policies/{label}/simulation", **answers(docs.Simulation))
def latest_simulation(label: str, policies: PoliciesDep, actor: Staff) -> dict[str, Any]:
    """The version's latest simulation, with its chart (Vega-Lite); staff."""
    return policies.simulation(actor, label)


@router.post("/policies/{label}/approve", **answers(docs.Transition))
def approve_policy(
    label: str,
    body: Approval,
    policies: PoliciesDep,
    actor: Approver,
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Approve a simulated version (not its author's): every adversely affected borrower is
    told now what changes for them, why and when."""
    result = policies.approve(actor, key, label, body.effective_at, body.justification)
    return command_reply(result, response)


@router.post("/policies/{label}/schedule", **answers(docs.Transition))
def schedule_policy(
    label: str,
    policies: PoliciesDep,
    actor: Approver,
    key: IdempotencyKeyDep,
    response: Response,
    body: Justified | None = None,
) -> Response:
    """Put an approved version on the calendar: it becomes active at its effective date."""
    justification = None if body is None else body.justification
    return command_reply(policies.schedule(actor, key, label, justification), response)


@router.post("/policies/{label}/retire", **answers(docs.Transition))
def retire_policy(
    label: str,
    body: Justified,
    policies: PoliciesDep,
    actor: Approver,
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Withdraw a version that is not active, with a written justification."""
    result = policies.retire(actor, key, label, body.justification or "")
    return command_reply(result, response)


@router.get("/policies/{label}/history", **answers(docs.History))
def policy_history(label: str, policies: PoliciesDep, actor: Staff) -> dict[str, Any]:
    """Every step of the version's life: who, when, why; staff."""
    return policies.history(actor, label)


@router.get("/policies/{label}/diff", **answers(docs.Diff))
def policy_diff(
    label: str, policies: PoliciesDep, actor: Staff, against: str | None = None
) -> dict[str, Any]:
    """What the version changes against `against` (default: the active version); staff."""
    return policies.diff(actor, label, against)


class Justification(Body):
    justification: StrictStr = Field(min_length=1, max_length=2000, description="why, in writing")


@router.post("/policies/{label}/shadow", **answers(docs.ShadowStep))
def start_shadow(
    label: str,
    body: Justification,
    policies: PoliciesDep,
    actor: Author,
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Run a linted, simulated or stopped version in shadow: on every live trigger it decides
    beside the active version and its decision is stored; nothing reaches the line."""
    result = policies.start_shadow(actor, key, label, body.justification)
    return command_reply(result, response)


@router.post("/policies/{label}/shadow/stop", **answers(docs.ShadowStep))
def stop_shadow(
    label: str,
    body: Justification,
    policies: PoliciesDep,
    actor: Author,
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Stop a version's shadow; what it decided is kept."""
    return command_reply(policies.stop_shadow(actor, key, label, body.justification), response)


@router.get("/policies/{label}/shadow-report", **answers(docs.ShadowReport))
def shadow_report(label: str, policies: PoliciesDep, actor: Staff) -> dict[str, Any]:
    """What the version decided in shadow against the active version: counts by action and
    reason under each, the lines where they differ, the adverse share; staff."""
    return policies.shadow_report(actor, label)
