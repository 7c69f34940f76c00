"""Champion/challenger experiments (`creditline.decisions.experiments`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from creditline.api.documents import Document, Time

ExperimentStatus = Literal["running", "stopped"]


class Started(Document):
    experiment_id: str
    challenger: str
    champion: str
    status: ExperimentStatus
    salt: str
    share_bp: int
    adverse_rate_max_bp: int
    exposure_change_max_bp: int
    decisions_min: int
    started_at: Time
    notices_queued: int
    guardrail_overridden: bool


class ListedExperiment(Document):
    experiment_id: str
    challenger: str
    champion_at_start: str
    share_bp: int
    status: ExperimentStatus


class Experiments(Document):
    experiments: list[ListedExperiment]


class Guardrails(Document):
    adverse_rate_max_bp: int
    exposure_change_max_bp: int
    decisions_min: int


class Event(Document):
    event: str
    actor: str
    at: Time
    justification: str | None
    details: dict[str, Any]


class Cell(Document):
    decisions_total: int
    lines: int
    adverse_count: int
    adverse_rate: str
    limit_before_minor: int
    limit_after_minor: int
    exposure_change_minor: int
    exposure_change: str
    actions: dict[str, int]
    outcomes: dict[str, int]
    decisions: list[dict[str, Any]] = Field(description="the newest decisions")


class Cells(Document):
    champion: Cell
    challenger: Cell


class ExperimentReport(Document):
    experiment_id: str
    currency: str
    challenger: str
    champion_at_start: str
    status: ExperimentStatus
    salt: str
    share_bp: int
    hash: str = Field(description="how a line's cell is drawn")
    guardrails: Guardrails
    simulation_id: str
    events: list[Event]
    cells: Cells


class Stopped(Document):
    experiment_id: str
    status: Literal["stopped"]
    stopped_by: str
    stopped_at: Time
    justification: str
