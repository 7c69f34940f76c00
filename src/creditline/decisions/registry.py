"""Policies: every version submitted, its life (draft → … → active → retired), and the exact
document behind each label, so staff can read what decided any line at any time.

`PolicyRegistry` is the capability's door for policies: the reads here, the lifecycle's steps
in `governance.py`, activation in `activation.py`. A document whose label is already stored
with other content is refused: a changed policy needs a new version.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from creditline.db.commands import CommandResult
from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions import change_store, policy_store, trial_reports, trial_store
from creditline.decisions.activation import Activation
from creditline.decisions.experiments import ExperimentNotFound, TrialSteps
from creditline.decisions.governance import Governance
from creditline.decisions.lifecycle import PolicyNotFound, PolicyVersionReused
from creditline.decisions.policy import PolicyDocument, parse_policy
from creditline.decisions.policy_store import fingerprint
from creditline.decisions.simulation import Decider
from creditline.decisions.tables import policies
from creditline.kernel.actors import STAFF_ROLES, Actor
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Forbidden, InvalidInput
from creditline.kernel.invariant import fail
from creditline.kernel.permissions import Permission, require
from creditline.loans.products import Catalogue

__all__ = ["PolicyNotFound", "PolicyRegistry", "PolicyVersionReused", "fingerprint"]
PENDING_LISTED_MAX = 200


class PolicyRegistry:
    """Every policy version and its life; the policies that have decided."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        catalogue: Catalogue | None = None,
        governance: Governance | None = None,
        activation: Activation | None = None,
        trials: TrialSteps | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._catalogue = catalogue  # whose profiles stored policies are linted under again
        self._governance = governance
        self._activation = activation
        self._trials = trials

    # --- the lifecycle ---------------------------------------------------------------------
    def submit(self, actor: Actor, key: str, document: object) -> CommandResult:
        """A new version: stored as a draft and linted (authors: analyst, approver, admin)."""
        return self._steps().submit(actor, key, document)

    def simulate(
        self, actor: Actor, key: str, label: str, decide: Decider | None = None
    ) -> CommandResult:
        """The version against the active one on today's book, stored with the version;
        decided in DuckDB, or as `decide` says (`decisions.spark.simulation_on_spark`)."""
        return self._steps().simulate(actor, key, label, decide)

    def simulation(self, actor: Actor, label: str) -> dict[str, Any]:
        """The version's latest simulation, with its chart (staff)."""
        return self._steps().latest_simulation(actor, label)

    def approve(
        self,
        actor: Actor,
        key: str,
        label: str,
        effective_at: datetime | None,
        justification: str | None = None,
    ) -> CommandResult:
        """Maker-checker approval, effective at `effective_at` (None: as early as the notice
        period allows); affected borrowers are told."""
        return self._steps().approve(actor, key, label, effective_at, justification)

    def schedule(
        self, actor: Actor, key: str, label: str, justification: str | None = None
    ) -> CommandResult:
        """An approved version becomes active at its effective date."""
        return self._steps().schedule(actor, key, label, justification)

    def retire(self, actor: Actor, key: str, label: str, justification: str) -> CommandResult:
        """Withdraw a version that is not active."""
        return self._steps().retire(actor, key, label, justification)

    def history(self, actor: Actor, label: str) -> dict[str, Any]:
        """Every step of the version's life (staff)."""
        return self._steps().history(actor, label)

    def diff(self, actor: Actor, label: str, against: str | None = None) -> dict[str, Any]:
        """What the version changes against `against` (default: the active version)."""
        return self._steps().diff(actor, label, against)

    def activate_due(self) -> dict[str, int]:
        """Activate the scheduled versions whose date has come; apply announced changes due."""
        if self._activation is None:
            fail("the registry was built without activation")
        return self._activation.run()

    # --- versions on trial: shadow, champion/challenger ---------------------------------------
    def start_shadow(
        self, actor: Actor, key: str, label: str, justification: str | None
    ) -> CommandResult:
        """Run a version in shadow beside the active one (it changes nothing)."""
        return self._trial_steps().start_shadow(actor, key, label, justification)

    def stop_shadow(
        self, actor: Actor, key: str, label: str, justification: str | None
    ) -> CommandResult:
        """Stop a version's shadow."""
        return self._trial_steps().stop_shadow(actor, key, label, justification)

    def shadow_report(self, actor: Actor, label: str) -> dict[str, Any]:
        """What the version decided in shadow against the active version (staff)."""
        require(actor, Permission.READ_STAFF_VIEWS)
        with self._db.reading() as connection:
            found = policy_store.version(connection, policy_store.split(label))
            if found is None:
                raise PolicyNotFound("no such policy version", policy=label)
            return trial_reports.shadow_report(connection, found)

    def create_experiment(
        self,
        actor: Actor,
        key: str,
        label: str,
        settings: dict[str, Any],
        justification: str | None,
    ) -> CommandResult:
        """Start an experiment with the simulated version `label` as its challenger."""
        steps = self._trial_steps()
        return steps.create_experiment(actor, key, label, settings, justification)

    def stop_experiment(
        self, actor: Actor, key: str, experiment_id: str, justification: str | None
    ) -> CommandResult:
        """Stop an experiment: its challenger's lines go back to the champion."""
        return self._trial_steps().stop_experiment(actor, key, experiment_id, justification)

    def experiment_report(self, actor: Actor, experiment_id: str) -> dict[str, Any]:
        """An experiment's events and its figures by cell (staff)."""
        require(actor, Permission.READ_STAFF_VIEWS)
        with self._db.reading() as connection:
            row = trial_store.experiment(connection, experiment_id)
            if row is None:
                raise ExperimentNotFound("no such experiment", experiment_id=experiment_id)
            return trial_reports.experiment_report(connection, row)

    def experiments(self, actor: Actor) -> dict[str, Any]:
        """Every experiment, newest first (staff)."""
        require(actor, Permission.READ_STAFF_VIEWS)
        with self._db.reading() as connection:
            return {"experiments": trial_reports.experiment_summaries(connection)}

    def _trial_steps(self) -> TrialSteps:
        if self._trials is None:
            fail("the registry was built without trials")
        return self._trials

    def _steps(self) -> Governance:
        if self._governance is None:
            fail("the registry was built without governance")
        return self._governance

    # --- reads -------------------------------------------------------------------------------
    def summaries(self, actor: Actor) -> dict[str, Any]:
        """Every version with its state, and every policy that has decided, newest first
        (staff)."""
        _staff_only(actor)
        with self._db.reading() as connection:
            decided = {
                f"{row['id']}@{row['version']}": row
                for row in connection.execute(select(policies)).mappings()
            }
            versions = policy_store.summaries(connection)
        listed = []
        for row in versions:
            label = f"{row['id']}@{row['version']}"
            first_use = decided.pop(label, None)
            listed.append(
                {
                    "policy": label,
                    "state": row["state"],
                    "currency": row["currency"],
                    "sha256": row["sha256"],
                    "submitted_by": row["submitted_by"],
                    "submitted_at": row["submitted_at"].isoformat(),
                    "activated_at": None
                    if first_use is None
                    else first_use["activated_at"].isoformat(),
                }
            )
        # Policies that decided before versions were governed.
        for label, row in decided.items():
            listed.append(
                {
                    "policy": label,
                    "sha256": row["sha256"],
                    "activated_at": row["activated_at"].isoformat(),
                }
            )
        return {"policies": listed}

    def pending_changes(self, actor: Actor, label: str, limit: int = 50) -> dict[str, Any]:
        """The version's announced changes still waiting for their date: how many, and the
        soonest `limit` with what each borrower was told (staff)."""
        _staff_only(actor)
        if not 1 <= limit <= PENDING_LISTED_MAX:
            raise InvalidInput(f"limit must be 1–{PENDING_LISTED_MAX}")
        with self._db.reading() as connection:
            total, rows = change_store.pending_first(connection, policy_store.split(label), limit)
        changes = [
            {
                "line_id": row["line_id"],
                "borrower_id": row["borrower_id"],
                "announced_at": _iso(row["announced_at"]),
                "effective_at": _iso(row["effective_at"]),
                "change": json.loads(row["change"]),
            }
            for row in rows
        ]
        return {"policy": label, "pending": total, "changes": changes}

    def get(self, actor: Actor, label: str) -> dict[str, Any]:
        """The stored document behind a label id@version (staff)."""
        _staff_only(actor)
        parts = policy_store.split(label)
        with self._db.reading() as connection:
            found = policy_store.version(connection, parts) if parts[1] else None
            if found is not None:
                return {
                    "policy": found.label,
                    "state": found.state.value,
                    "sha256": found.sha256,
                    "document": found.document,
                }
            row = self._decided(parts) if parts[1] else None
        if row is None:
            raise PolicyNotFound("no such policy", policy=label)
        activated = row["activated_at"]
        return {
            "policy": label,
            "sha256": row["sha256"],
            "activated_at": activated.isoformat(),
            "document": json.loads(row["document"]),
        }

    def load(self, label: str) -> PolicyDocument:
        """The stored policy behind a label, validated again."""
        parts = policy_store.split(label)
        with self._db.reading() as connection:
            found = policy_store.version(connection, parts)
        if found is not None:
            return parse_policy(found.document, self._catalogue)
        row = self._decided(parts)
        if row is None:
            raise PolicyNotFound("no such policy", policy=label)
        return parse_policy(json.loads(row["document"]), self._catalogue)

    def activate(self, policy: PolicyDocument) -> PolicyDocument:
        """Keep `policy` in the registry of policies that have decided (once per label);
        refuse other content under a stored label."""
        now = self._clock.now()
        self._db.run(lambda tx: policy_store.store_decided(tx, policy, now), core=True)
        return policy

    def _decided(self, parts: tuple[str, str]) -> Any:
        with self._db.reading() as connection:
            return (
                connection.execute(
                    select(policies).where(
                        policies.c.id == parts[0], policies.c.version == parts[1]
                    )
                )
                .mappings()
                .first()
            )


def _staff_only(actor: Actor) -> None:
    if actor.role not in STAFF_ROLES:
        raise Forbidden("policies are read by staff")


def _iso(stored: Any) -> str:
    return (Transaction.read_time(stored) or fail("a pending change has its times")).isoformat()
