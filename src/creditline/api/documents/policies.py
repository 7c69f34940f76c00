"""Policy versions through their life: submitted, simulated, approved, scheduled, retired, in
shadow, a challenger, stopped (`creditline.decisions.governance`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from creditline.api.documents import Document, Time

PolicyState = Literal[
    "draft",
    "linted",
    "simulated",
    "approved",
    "scheduled",
    "active",
    "retired",
    "shadow",
    "challenger",
    "stopped",
]


class PolicySummary(Document):
    policy: str = Field(description="id@version")
    state: PolicyState
    currency: str
    sha256: str
    submitted_by: str
    submitted_at: Time
    activated_at: Time | None


class Policies(Document):
    policies: list[PolicySummary]


class Policy(Document):
    """The exact document behind a label."""

    policy: str
    state: PolicyState
    sha256: str
    document: dict[str, Any] = Field(description="the policy document (its YAML, in JSON)")


class Transition(Document):
    """A version's new state; `problems` the linter found on submission."""

    policy: str
    state: PolicyState
    problems: list[str]
    effective_at: Time | None = Field(default=None, description="approved or scheduled: when")
    simulation_id: str | None = Field(default=None, description="approved: on which simulation")
    notices_queued: int | None = Field(
        default=None, description="approved or retired: borrowers told of a change (or of its end)"
    )
    guardrail_overridden: bool | None = Field(
        default=None, description="approved: by an admin above the guardrail"
    )


class ShadowStep(Document):
    policy: str
    state: PolicyState
    actor: str
    at: Time
    justification: str


class Simulation(Document):
    """Today's book decided with the version and with the active one."""

    policy: str
    simulation_id: str
    simulated_at: Time
    currency: str
    lines_total: int
    adverse_count: int
    actions: dict[str, dict[str, int]] = Field(description="by action: lines under each version")
    reasons: dict[str, dict[str, int]] = Field(description="by reason: lines under each version")
    exposure: list[dict[str, Any]] = Field(description="by grade and income band, minor units")
    rules: list[dict[str, Any]] = Field(description="how often each rule fires under each")
    against: str = Field(description="the active version it was compared with")
    chart: dict[str, Any] = Field(description="a Vega-Lite chart of the counts")


class HistoryStep(Document):
    state: PolicyState
    actor: str
    at: Time
    justification: str | None
    effective_at: Time | None
    simulation_id: str | None


class History(Document):
    policy: str
    state: PolicyState
    currency: str
    sha256: str
    submitted_by: str
    submitted_at: Time
    steps: list[HistoryStep]


class Change(Document):
    path: str
    before: Any = Field(default=None, description="absent when added")
    after: Any = Field(default=None, description="absent when removed")


class Diff(Document):
    policy: str
    against: str
    changes: list[Change]


class ShadowReport(Document):
    """What the version decided in shadow against the active version."""

    policy: str
    state: PolicyState
    currency: str
    first_at: Time | None
    last_at: Time | None
    decisions_total: int
    lines_total: int
    actions: dict[str, dict[str, int]] = Field(description="by action: decisions under each")
    reasons: dict[str, dict[str, int]] = Field(description="by reason: decisions under each")
    adverse_count: int
    adverse_share: str
    adverse_lines: int
    differing_decisions: int
    differing_lines_total: int
    differing_lines: list[dict[str, Any]] = Field(description="with the latest such decision")
