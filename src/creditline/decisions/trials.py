"""Versions on trial beside the active one, on every live trigger (docs/decisions/0018).

- **Shadow**: each version in `shadow` decides the same features as the decision just made
  and its would-be decision is stored beside the active version's; nothing reaches the line or
  the borrower.
- **Champion/challenger**: while an experiment runs, a line whose cell (`cells.cell_of`) is
  the challenger's is decided by the challenger, for real, through the same review path: its
  adverse change sends its notice, and a cut the champion would not make waits the profile's
  notice period, announced the first time the challenger decides it. Every decision about a
  line while the experiment runs is stored with the line's cell. Before a challenger's
  decision is applied the cell's guardrails are checked with it counted: breached, the
  experiment stops (audited, with the figures) and the line is decided by the champion.

Which versions are on trial is asked of the store at most every `CHECK_SECONDS` (this
process's own changes at once: `refresh`).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions import policy_store, trial_store
from creditline.decisions.active_policy import ActivePolicy
from creditline.decisions.announcements import announce_line
from creditline.decisions.attributes import LenderAttribute, read_together
from creditline.decisions.cells import (
    Cell,
    CellAssignment,
    CellFigures,
    Guardrails,
    breach,
    cell_of,
)
from creditline.decisions.engine import Decision, Engine
from creditline.decisions.lifecycle import (
    NoticeRules,
    State,
    Step,
    harsher,
    severity,
)
from creditline.decisions.policy import parse_policy
from creditline.kernel.actors import SYSTEM
from creditline.kernel.invariant import fail
from creditline.kernel.money import format_minor
from creditline.ledger.service import LedgerService
from creditline.loans.products import Catalogue
from creditline.notices.outbox import Outbox

CHECK_SECONDS = 1.0
SHADOWS_MAX = 3  # versions in shadow at once: each costs one more evaluation per trigger


@dataclass(frozen=True, slots=True)
class Experiment:
    """A running experiment, as routing and its guardrails need it."""

    id: str
    challenger: str  # the challenger's label
    salt: str
    share_bp: int
    guardrails: Guardrails

    @staticmethod
    def of(row: Any) -> Experiment:
        """From a `policy_experiments` row."""
        guardrails = Guardrails(
            row["adverse_rate_max_bp"], row["exposure_change_max_bp"], row["decisions_min"]
        )
        label = f"{row['policy_id']}@{row['version']}"
        return Experiment(row["id"], label, row["salt"], row["share_bp"], guardrails)


@dataclass(frozen=True, slots=True)
class Running:
    """The versions on trial now."""

    shadows: tuple[Engine, ...] = ()
    experiment: Experiment | None = None
    challenger: Engine | None = None

    @property
    def any(self) -> bool:
        """Whether anything is on trial (a decision has more to record)."""
        return bool(self.shadows) or self.experiment is not None


class Trials:
    """Routing a line to its cell, guarding the challenger, and recording what the versions on
    trial decided."""

    def __init__(
        self,
        db: Database,
        catalogue: Catalogue,
        active: ActivePolicy,
        ledger: LedgerService,
        outbox: Outbox,
        notice_rules: Callable[[str], NoticeRules],
    ) -> None:
        self._db = db
        self._catalogue = catalogue
        self._active = active
        self._ledger = ledger
        self._outbox = outbox
        self._notice_rules = notice_rules
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()
        self._running = Running()
        self._checked = -math.inf

    # --- what is on trial ----------------------------------------------------------------------
    def running(self) -> Running:
        """The versions in shadow and the running experiment (asked again after a second)."""
        if time.monotonic() - self._checked < CHECK_SECONDS:
            return self._running
        with self._lock:
            currency = self._active.currency
            with self._db.reading() as connection:
                shadows = policy_store.labels_in(connection, [State.SHADOW], currency)
                row = trial_store.running(connection, currency)
            experiment = None if row is None else Experiment.of(row)
            self._running = Running(
                tuple(self.engine("@".join(parts)) for parts in shadows[:SHADOWS_MAX]),
                experiment,
                None if experiment is None else self.engine(experiment.challenger),
            )
            self._checked = time.monotonic()
            return self._running

    def refresh(self) -> None:
        """Ask the store again on next use (this process started or stopped a trial)."""
        self._checked = -math.inf

    def engine(self, label: str) -> Engine:
        """A stored version's engine, built once per label."""
        engine = self._engines.get(label)
        if engine is None:
            with self._db.reading() as connection:
                found = policy_store.version(connection, policy_store.split(label))
            if found is None:
                fail(f"policy {label} is on trial but not stored")
            policy = parse_policy(found.document, self._catalogue)
            engine = Engine(policy, self._active.caps(policy.currency))
            self._engines[label] = engine
        return engine

    # --- deciding --------------------------------------------------------------------------------
    def attributes(self) -> list[LenderAttribute]:
        """The lender attributes to read for a line: the active version's, then those of the
        versions on trial, so that each decides on the attributes it reads."""
        running = self.running()
        engines = [self._active.engine(), *running.shadows]
        if running.challenger is not None:
            engines.append(running.challenger)
        return read_together(engine.policy.attributes for engine in engines)

    def decide(self, features: dict[str, Any]) -> Decision:
        """The line's decision on `features` (read for every version on trial,
        `attributes`): the challenger's when the line is in its cell, else the active
        version's; with the line's cell while an experiment runs."""
        champion = self._active.engine()
        running = self.running()
        experiment = running.experiment
        if experiment is None or running.challenger is None:
            return decided_by(champion, features)
        cell, bucket = cell_of(experiment.salt, experiment.share_bp, str(features["line_id"]))
        engine = running.challenger if cell is Cell.CHALLENGER else champion
        assignment = CellAssignment(experiment.id, cell, bucket)
        return replace(decided_by(engine, features), experiment=assignment)

    def reroute(self, decision: Decision, features: dict[str, Any]) -> Decision:
        """A decision the active version made in batch on the line's `features` (read for
        every version on trial), given the line's cell: decided again by the challenger when
        the line is in its cell; either way with what was read for the versions on trial."""
        decision = replace(decision, inputs=features)
        running = self.running()
        experiment = running.experiment
        if experiment is None or running.challenger is None:
            return decision
        cell, bucket = cell_of(experiment.salt, experiment.share_bp, decision.line_id)
        if cell is Cell.CHALLENGER:
            decision = decided_by(running.challenger, features)
        return replace(decision, experiment=CellAssignment(experiment.id, cell, bucket))

    def guard_in(self, tx: Transaction, decision: Decision, now: datetime) -> Decision:
        """In `tx`, before a challenger's decision is applied: the champion's instead when the
        experiment has stopped, or when this decision would breach a guardrail (which stops
        it)."""
        assignment = decision.experiment
        if assignment is None or assignment.cell is not Cell.CHALLENGER:
            return decision
        tx.lock_key(f"experiment:{assignment.experiment_id}")
        connection = tx.connection
        row = trial_store.experiment(connection, assignment.experiment_id)
        if row is None or not trial_store.is_running(connection, assignment.experiment_id):
            return self._champions(decision)
        experiment = Experiment.of(row)
        figures = _with(
            trial_store.figures(connection, experiment.id, Cell.CHALLENGER),
            trial_store.line_limits(connection, experiment.id, decision.line_id),
            decision,
        )
        breached = breach(figures, experiment.guardrails)
        if breached is None:
            return decision
        text = (
            f"guardrail {breached['guardrail']}: {breached['observed']} above "
            f"{breached['maximum']}; its lines fall back to the champion"
        )
        details = {**breached, "decisions": figures.decisions, "line_id": decision.line_id}
        self.stop_in(tx, experiment, SYSTEM.scope, now, text, details)
        return self._champions(decision)

    def _champions(self, decision: Decision) -> Decision:
        return decided_by(self._active.engine(), decision.seen())

    def stop_in(
        self,
        tx: Transaction,
        experiment: Experiment,
        actor: str,
        now: datetime,
        justification: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Stop the experiment: its event and its challenger's step, in `tx`."""
        connection = tx.connection
        trial_store.insert_event(
            connection, experiment.id, "stopped", actor, now, justification, details
        )
        parts = policy_store.split(experiment.challenger)
        found = policy_store.version(connection, parts)
        if found is not None and found.state is State.CHALLENGER:
            step = Step(State.STOPPED, actor, now, justification)
            policy_store.insert_step(connection, parts, step, {"experiment": experiment.id})
        tx.after_commit(self.refresh)

    # --- advance notice of a challenger's cut ----------------------------------------------------
    def waits_for_notice(self, tx: Transaction, decision: Decision, now: datetime) -> bool:
        """Whether a challenger's adverse decision waits its notice period: a cut the champion
        would not make, not yet announced (or harsher than announced), is announced now and
        waits. A cut the champion would make as well (a risk, not the policy) does not."""
        assignment = decision.experiment
        if assignment is None or assignment.cell is not Cell.CHALLENGER or not decision.adverse:
            return False
        champion = self._champions(decision)
        if not harsher(
            decision.action, decision.new_limit_minor, champion.action, champion.new_limit_minor
        ):
            return False
        found = trial_store.announced(tx.connection, decision.line_id, decision.policy)
        if found is not None:
            told = json.loads(found["change"])
            if not harsher(
                decision.action, decision.new_limit_minor, told["action"], told["limit_after_minor"]
            ):
                return False  # announced, and due (a change not yet due is held before this)
        line = self._ledger.port.visible(tx, SYSTEM, decision.line_id)
        if line is None:
            fail(f"line {decision.line_id} vanished")
        change = change_of(decision, line.currency)
        self.announce_in(tx, decision.policy, (line.id, line.borrower_id), change, now)
        return True

    def announce_in(
        self,
        tx: Transaction,
        label: str,
        line: tuple[str, str],
        change: dict[str, Any],
        now: datetime,
    ) -> None:
        """Tell one borrower of a change to come, which waits their own notice period: a
        pending change of `label` and its notice, in `tx`."""
        rules = self._notice_rules(change["currency"])
        announce_line(tx, self._outbox, rules, policy_store.split(label), line, change, now)

    # --- recording -------------------------------------------------------------------------------
    def record_in(
        self,
        tx: Transaction,
        decisions: Sequence[tuple[Decision, str, str | None]],
        now: datetime,
    ) -> None:
        """In `tx`: what each version in shadow would have decided beside each decision, and
        each decision of a running experiment with its cell. `decisions`: (the decision, what
        became of it, the recorded change's id)."""
        running = self.running()
        if not running.any or not decisions:
            return
        connection = tx.connection
        champion = self._active.engine()
        shadows = [
            shadow_row(engine, made, champion, now)
            for made, _, _ in decisions
            for engine in running.shadows
        ]
        trial_store.insert_shadow(connection, shadows)
        running_id = None if running.experiment is None else running.experiment.id
        cells = [
            cell_row(made, outcome, decision_id, now)
            for made, outcome, decision_id in decisions
            if made.experiment is not None and made.experiment.experiment_id == running_id
        ]
        trial_store.insert_decisions(connection, cells)


def _with(figures: CellFigures, line: tuple[int, int] | None, decision: Decision) -> CellFigures:
    """A cell's figures with one more decision counted: `line` is the line's limit before its
    first decision in the experiment and after its latest, when it has one."""
    before, after = (decision.limit_minor, 0) if line is None else (0, line[1])
    return CellFigures(
        figures.decisions + 1,
        figures.adverse + (1 if decision.adverse else 0),
        figures.limit_before_minor + before,
        figures.limit_after_minor - after + decision.new_limit_minor,
    )


def change_of(decision: Decision, currency: str) -> dict[str, Any]:
    """A decision as a change to come, as a notice and the explanation show it."""
    return {
        "action": decision.action,
        "currency": currency,
        "limit_before": format_minor(decision.limit_minor, currency),
        "limit_after": format_minor(decision.new_limit_minor, currency),
        "limit_before_minor": decision.limit_minor,
        "limit_after_minor": decision.new_limit_minor,
        "reason_codes": list(decision.reason_codes),
        "rule": decision.decisive_rule,
    }


def decided_by(engine: Engine, features: Mapping[str, Any]) -> Decision:
    """`engine`'s decision on what it reads of `features` (read for several versions), which
    it keeps for the others to decide on."""
    return replace(engine.decide(engine.readable(features)), inputs=features)


def shadow_row(engine: Engine, made: Decision, champion: Engine, now: datetime) -> dict[str, Any]:
    """What the shadow `engine` would have decided beside the active version's decision (the
    champion's, decided again when a challenger made `made`), each on the attributes it
    reads."""
    seen = made.seen()
    active = made if made.policy == champion.policy.label else decided_by(champion, seen)
    shadow = decided_by(engine, seen)
    adverse = severity(shadow.action) > 0 and harsher(
        shadow.action, shadow.new_limit_minor, active.action, active.new_limit_minor
    )
    policy_id, version = policy_store.split(shadow.policy)
    return {
        "policy_id": policy_id,
        "version": version,
        "line_id": made.line_id,
        "at": now,
        "active_policy": active.policy,
        "limit_minor": made.limit_minor,
        "active_action": active.action,
        "active_limit_minor": active.new_limit_minor,
        "active_reason_codes": json.dumps(list(active.reason_codes)),
        "shadow_action": shadow.action,
        "shadow_limit_minor": shadow.new_limit_minor,
        "shadow_reason_codes": json.dumps(list(shadow.reason_codes)),
        "shadow_rule": shadow.decisive_rule,
        "adverse": adverse,
    }


def cell_row(
    made: Decision, outcome: str, decision_id: str | None, now: datetime
) -> dict[str, Any]:
    """A decision made while an experiment runs, with the line's cell."""
    assignment = made.experiment or fail("a decision outside an experiment has no cell")
    applied = outcome in ("applied", "replayed")
    return {
        "experiment_id": assignment.experiment_id,
        "line_id": made.line_id,
        "cell": assignment.cell.value,
        "bucket": assignment.bucket,
        "policy": made.policy,
        "at": now,
        "action": made.action,
        "adverse": made.adverse,
        "limit_before_minor": made.limit_minor,
        "limit_after_minor": made.new_limit_minor if applied else made.limit_minor,
        "reason_codes": json.dumps(list(made.reason_codes)),
        "outcome": outcome,
        "decision_id": decision_id,
    }
