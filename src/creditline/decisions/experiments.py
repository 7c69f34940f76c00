"""Trials' steps: a version into shadow and out of it; an experiment started and stopped.

Each is a command (`Commands.run`: idempotency key, one transaction) that records its actor,
time and justification: a lifecycle step of the version and, for an experiment, its event.
Starting an experiment is its challenger's approval for its cell: another person than the
author (approver or admin), a fresh simulation against the active version, the version's
guardrail on the share of the book adversely affected (the cell is a uniform slice of it);
the cell's borrowers whom the simulation found adversely affected are told in the same
transaction, and their cuts wait the profile's notice period (docs/decisions/0018).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from creditline.db.commands import CommandResult, Commands
from creditline.db.unit_of_work import Transaction
from creditline.decisions import change_store, policy_store, trial_store
from creditline.decisions.active_policy import LIFECYCLE_LOCK
from creditline.decisions.cells import BUCKETS, SALT_LENGTH_MAX, SHARE_BP_MAX, Cell, cell_of
from creditline.decisions.governance import fresh_impact, guardrail_of
from creditline.decisions.lifecycle import (
    NoticeRules,
    PolicyNotFound,
    PolicyTransitionRefused,
    State,
    Step,
    checked_justification,
    require_checker,
    require_transition,
    require_within_guardrail,
)
from creditline.decisions.trials import SHADOWS_MAX, Experiment, Trials
from creditline.kernel.actors import Actor
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Conflict, InvalidInput, NotFound
from creditline.kernel.ids import new_id
from creditline.kernel.permissions import Permission, require
from creditline.kernel.text import checked_text

DECISIONS_MIN_DEFAULT = 20  # a guardrail is looked at once the cell has this many decisions
DECISIONS_MIN_MAX = 1_000_000


class ShadowsFull(Conflict):
    """As many versions as allowed already run in shadow."""

    code = "shadow_versions_max"


class ExperimentRunning(Conflict):
    """An experiment already runs on the lender's lines: one at a time."""

    code = "experiment_running"


class ExperimentNotFound(NotFound):
    code = "experiment_not_found"


class ExperimentStopped(Conflict):
    """The experiment has stopped already."""

    code = "experiment_stopped"


class TrialSteps:
    """Shadow and experiment steps over the governance tables."""

    def __init__(
        self,
        clock: Clock,
        commands: Commands,
        trials: Trials,
        notice_rules: Callable[[str], NoticeRules],
    ) -> None:
        self._clock = clock
        self._commands = commands
        self._trials = trials
        self._notice_rules = notice_rules

    # --- shadow ------------------------------------------------------------------------------
    def start_shadow(
        self, actor: Actor, key: str, label: str, justification: str | None
    ) -> CommandResult:
        """Run a linted, simulated or stopped version beside the active one on every live
        trigger: it decides, its decisions are stored, nothing reaches the line."""
        return self._shadow_step(actor, key, label, justification, State.SHADOW)

    def stop_shadow(
        self, actor: Actor, key: str, label: str, justification: str | None
    ) -> CommandResult:
        """Stop a version's shadow: it decides nothing any more; what it decided is kept."""
        return self._shadow_step(actor, key, label, justification, State.STOPPED)

    def _shadow_step(
        self, actor: Actor, key: str, label: str, justification: str | None, wanted: State
    ) -> CommandResult:
        require(actor, Permission.AUTHOR_POLICY)
        text = checked_justification(justification, required=True)
        parts = policy_store.split(label)
        request = {"op": f"policy_shadow_{wanted.value}", "policy": label, "justification": text}

        def work(tx: Transaction) -> dict[str, Any]:
            tx.lock_key(LIFECYCLE_LOCK)
            connection = tx.connection
            found = _version(connection, parts)
            if wanted is State.SHADOW:
                require_transition(found.state, State.SHADOW, label)
                _require_room(connection, found.currency)
            elif found.state is not State.SHADOW:  # a challenger stops with its experiment
                raise PolicyTransitionRefused(
                    f"{label} is {found.state.value}, not in shadow",
                    policy=label,
                    state=found.state.value,
                    wanted=wanted.value,
                )
            now = self._clock.now()
            step = Step(wanted, actor.scope, now, text)
            policy_store.insert_step(connection, parts, step, {"shadow": wanted.value})
            tx.after_commit(self._trials.refresh)
            return _step_document(found.label, wanted, actor, now, text)

        return self._commands.run(actor, key, request, work, lambda d: d, core=True)

    # --- experiments -------------------------------------------------------------------------
    def create_experiment(
        self,
        actor: Actor,
        key: str,
        label: str,
        settings: dict[str, Any],
        justification: str | None,
    ) -> CommandResult:
        """Start an experiment: the simulated version `label` decides, for real, the lines
        whose bucket is below `share_bp`. `settings`: share_bp, salt (default: the
        experiment's id), adverse_rate_max_bp, exposure_change_max_bp, decisions_min."""
        require(actor, Permission.APPROVE_POLICY)
        text = checked_justification(justification, required=True)
        experiment_id = new_id()
        checked = checked_settings(settings, experiment_id)
        parts = policy_store.split(label)
        request = {
            "op": "experiment_create",
            "policy": label,
            "settings": settings,  # as given: the salt by default is the new experiment's id
            "justification": text,
        }

        def work(tx: Transaction) -> dict[str, Any]:
            tx.lock_key(LIFECYCLE_LOCK)
            return self._create_in(tx, actor, experiment_id, parts, checked, text)

        return self._commands.run(actor, key, request, work, lambda d: d, core=True)

    def _create_in(
        self,
        tx: Transaction,
        actor: Actor,
        experiment_id: str,
        parts: tuple[str, str],
        checked: dict[str, Any],
        text: str | None,
    ) -> dict[str, Any]:
        connection = tx.connection
        now = self._clock.now()
        found = _version(connection, parts)
        label = found.label
        require_transition(found.state, State.CHALLENGER, label)
        require_checker(actor, found.submitted_by, label)
        running = trial_store.running(connection, found.currency)
        if running is not None:
            raise ExperimentRunning(
                "an experiment runs already: stop it first", experiment_id=running["id"]
            )
        impact = fresh_impact(connection, found, now, self._notice_rules(found.currency))
        overridden = require_within_guardrail(
            impact, guardrail_of(found.document), actor, text, label
        )
        champion = policy_store.labels_in(connection, [State.ACTIVE], found.currency)
        row = {
            "id": experiment_id,
            "currency": found.currency,
            "policy_id": found.policy_id,
            "version": found.version,
            "champion": "@".join(champion[-1]),
            **checked,
            "simulation_id": impact.simulation_id,
        }
        trial_store.insert_experiment(connection, row)
        queued = self._announce_cell(tx, Experiment.of(row), impact.simulation_id, now)
        details = {"notices_queued": queued, "guardrail_overridden": overridden}
        trial_store.insert_event(
            connection, experiment_id, "started", actor.scope, now, text, details
        )
        step = Step(State.CHALLENGER, actor.scope, now, text, simulation_id=impact.simulation_id)
        policy_store.insert_step(connection, parts, step, {"experiment": experiment_id})
        tx.after_commit(self._trials.refresh)
        return {
            "experiment_id": experiment_id,
            "challenger": label,
            "champion": row["champion"],
            "status": "running",
            **checked,
            "started_at": now.isoformat(),
            "notices_queued": queued,
            "guardrail_overridden": overridden,
        }

    def _announce_cell(
        self, tx: Transaction, experiment: Experiment, simulation_id: str, now: Any
    ) -> int:
        """Tell the challenger cell's borrowers the simulation found adversely affected; each
        change waits its own notice period."""
        queued = 0
        for line in change_store.simulated_lines(tx.connection, simulation_id):
            cell, _ = cell_of(experiment.salt, experiment.share_bp, line["line_id"])
            if cell is not Cell.CHALLENGER:
                continue
            owner = (line["line_id"], line["borrower_id"])
            change = json.loads(line["change"])
            self._trials.announce_in(tx, experiment.challenger, owner, change, now)
            queued += 1
        return queued

    def stop_experiment(
        self, actor: Actor, key: str, experiment_id: str, justification: str | None
    ) -> CommandResult:
        """Stop an experiment by hand: every line of the challenger's cell is decided by the
        champion again; its decisions and their changes stand."""
        require(actor, Permission.APPROVE_POLICY)
        text = checked_justification(justification, required=True) or ""
        request = {"op": "experiment_stop", "experiment": experiment_id, "justification": text}

        def work(tx: Transaction) -> dict[str, Any]:
            tx.lock_key(LIFECYCLE_LOCK)
            tx.lock_key(f"experiment:{experiment_id}")
            connection = tx.connection
            row = trial_store.experiment(connection, experiment_id)
            if row is None:
                raise ExperimentNotFound("no such experiment", experiment_id=experiment_id)
            if not trial_store.is_running(connection, experiment_id):
                raise ExperimentStopped("the experiment has stopped", experiment_id=experiment_id)
            now = self._clock.now()
            self._trials.stop_in(tx, Experiment.of(row), actor.scope, now, text)
            return {
                "experiment_id": experiment_id,
                "status": "stopped",
                "stopped_by": actor.scope,
                "stopped_at": now.isoformat(),
                "justification": text,
            }

        return self._commands.run(actor, key, request, work, lambda d: d, core=True)


def _require_room(connection: Any, currency: str) -> None:
    shadows = policy_store.labels_in(connection, [State.SHADOW], currency)
    if len(shadows) >= SHADOWS_MAX:
        raise ShadowsFull(
            f"{len(shadows)} versions run in shadow already: stop one first",
            shadows=["@".join(p) for p in shadows],
            shadows_max=SHADOWS_MAX,
        )


def checked_settings(settings: dict[str, Any], experiment_id: str) -> dict[str, Any]:
    """An experiment's share, salt and guardrails, each within its bounds."""
    known = {"share_bp", "salt", "adverse_rate_max_bp", "exposure_change_max_bp", "decisions_min"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise InvalidInput(f"unknown settings: {', '.join(unknown)}", unknown=unknown)
    salt = settings.get("salt")
    salt = experiment_id if salt is None else checked_text(salt, "salt", SALT_LENGTH_MAX)
    decisions_min = settings.get("decisions_min", DECISIONS_MIN_DEFAULT)
    return {
        "salt": salt,
        "share_bp": _whole(settings.get("share_bp"), "share_bp", 1, SHARE_BP_MAX),
        "adverse_rate_max_bp": _whole(
            settings.get("adverse_rate_max_bp"), "adverse_rate_max_bp", 0, BUCKETS
        ),
        "exposure_change_max_bp": _whole(
            settings.get("exposure_change_max_bp"), "exposure_change_max_bp", 0, BUCKETS
        ),
        "decisions_min": _whole(decisions_min, "decisions_min", 1, DECISIONS_MIN_MAX),
    }


def _whole(value: object, field: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidInput(f"{field} must be a whole number from {low} to {high}", field=field)
    return value


def _version(connection: Any, parts: tuple[str, str]) -> policy_store.Version:
    found = policy_store.version(connection, parts)
    if found is None:
        raise PolicyNotFound("no such policy version", policy="@".join(parts))
    return found


def _step_document(
    label: str, state: State, actor: Actor, at: Any, justification: str | None
) -> dict[str, Any]:
    return {
        "policy": label,
        "state": state.value,
        "actor": actor.scope,
        "at": at.isoformat(),
        "justification": justification,
    }
