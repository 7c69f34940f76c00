"""Policy governance's use cases: submit, simulate, approve, schedule, retire; history, diff.

Each step is a command (`Commands.run`: idempotency key, one transaction) that records its
actor, time and justification; steps that change which version decides, or what borrowers were
told, take the lifecycle lock, so they run one at a time. A simulation decides the book of the
day outside any transaction and stores what it found in the command's. Approval checks
maker-checker, the simulation's age, the guardrail and the notice period, then announces every
adversely affected line's change, set-based: pending changes and their notices in the outbox,
in the approval's transaction.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from creditline.db.commands import CommandResult, Commands
from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions import change_store, policy_store
from creditline.decisions.active_policy import LIFECYCLE_LOCK, ActivePolicy
from creditline.decisions.book import todays_book
from creditline.decisions.bureau import BureauPort
from creditline.decisions.engine import Engine
from creditline.decisions.guardrails import ADVERSE_SHARE_MAX_DEFAULT
from creditline.decisions.lifecycle import (
    Impact,
    NoticeRules,
    PolicyNotFound,
    PolicyVersionReused,
    SimulationNotFound,
    SimulationStale,
    State,
    Step,
    checked_justification,
    earliest_effective,
    require_checker,
    require_fresh,
    require_notice_period,
    require_transition,
    require_within_guardrail,
)
from creditline.decisions.policy import (
    PolicyDocument,
    check_policy,
    document_of,
    parse_policy,
)
from creditline.decisions.policy_diff import document_diff
from creditline.decisions.simulation import Decider, simulate
from creditline.kernel.actors import Actor
from creditline.kernel.clock import Clock
from creditline.kernel.errors import InvalidInput, ProductNotFound
from creditline.kernel.invariant import fail
from creditline.kernel.permissions import Permission, require
from creditline.loans.products import Catalogue
from creditline.notices.outbox import Outbox, Topic

DEFAULT_RULES = NoticeRules(30, 0, timedelta(hours=24))


class Governance:
    """The lifecycle's steps and reads over the governance tables."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        commands: Commands,
        catalogue: Catalogue,
        active: ActivePolicy,
        bureau: BureauPort,
        outbox: Outbox,
    ) -> None:
        self._db = db
        self._clock = clock
        self._commands = commands
        self._catalogue = catalogue
        self._active = active
        self._bureau = bureau
        self._outbox = outbox

    @property
    def outbox(self) -> Outbox:
        """Where approval's notices are queued."""
        return self._outbox

    def notice_rules(self, currency: str) -> NoticeRules:
        """The profile's notice period, termination notice and simulation age for `currency`."""
        try:
            profile = self._catalogue.profile_for(currency)
        except ProductNotFound:
            return DEFAULT_RULES
        return NoticeRules(
            profile.policy_notice_days,
            profile.termination_notice_months,
            timedelta(hours=profile.simulation_age_hours_max),
        )

    # --- submit ------------------------------------------------------------------------------
    def submit(self, actor: Actor, key: str, document: object) -> CommandResult:
        """Store a new version as a draft and lint it: clean, it is linted; else it stays a
        draft with its problems. A document that does not validate is refused."""
        require(actor, Permission.AUTHOR_POLICY)
        if not isinstance(document, dict):
            raise InvalidInput("the document must be a JSON object (a policy)")
        policy, problems = check_policy(document, self._catalogue)
        if policy is None:
            raise InvalidInput("policy: " + "; ".join(problems), problems=problems)
        currency = self._active.currency
        if policy.currency != currency:
            raise InvalidInput(
                f"creditline decides {currency} lines with one policy; this one lends in "
                f"{policy.currency}",
                currency=policy.currency,
            )
        now = self._clock.now()
        label = (policy.id, policy.version)
        request = {"op": "submit_policy", "document": document_of(policy)}

        def work(tx: Transaction) -> dict[str, Any]:
            tx.lock_key(LIFECYCLE_LOCK)
            connection = tx.connection
            found = policy_store.version(connection, label)
            if found is not None:
                if found.sha256 != policy_store.fingerprint(policy):
                    raise PolicyVersionReused(
                        f"{policy.label} is stored with other content: give it a new version",
                        policy=policy.label,
                    )
                return _state_document(found.label, found.state, [])
            state = policy_store.insert_version(connection, policy, actor.scope, now, problems)
            return _state_document(policy.label, state, problems)

        return self._commands.run(actor, key, request, work, lambda d: d, core=True)

    # --- simulate ----------------------------------------------------------------------------
    def simulate(
        self, actor: Actor, key: str, label: str, decide: Decider | None = None
    ) -> CommandResult:
        """Decide today's book with the version and with the active one (in DuckDB, or as
        `decide` says: `decisions.spark.simulation_on_spark`); store what changes."""
        require(actor, Permission.AUTHOR_POLICY)
        parts = policy_store.split(label)
        found = self._version(parts)
        require_transition(found.state, State.SIMULATED, label)
        active = self._active.engine()
        candidate = self._engine_of(found.document)
        now = self._clock.now()
        rows, owners = todays_book(self._db, active.policy, now, self._bureau, candidate.policy)
        simulated = simulate(candidate, active, rows, decide)
        currency = candidate.policy.currency
        affected = [
            (line.line_id, owners[line.line_id], line.change(currency))
            for line in simulated.affected
        ]
        request = {"op": "simulate_policy", "policy": label}

        def work(tx: Transaction) -> dict[str, Any]:
            tx.lock_key(LIFECYCLE_LOCK)
            connection = tx.connection
            current = self._version(parts, connection)
            require_transition(current.state, State.SIMULATED, label)
            counts = (simulated.lines_total, len(affected), simulated.close_count)
            summary = {**simulated.summary, "against": active.policy.label}
            simulation_id = change_store.insert_simulation(
                connection,
                parts,
                active.policy.label,
                actor.scope,
                now,
                counts,
                summary,
                simulated.chart,
            )
            change_store.insert_simulation_lines(connection, simulation_id, affected)
            step = Step(State.SIMULATED, actor.scope, now, None, simulation_id=simulation_id)
            policy_store.insert_step(connection, parts, step)
            return _simulation_document(label, simulation_id, now, summary, simulated.chart)

        return self._commands.run(actor, key, request, work, lambda d: d, core=True)

    def latest_simulation(self, actor: Actor, label: str) -> dict[str, Any]:
        """The version's latest simulation: its report and chart (staff)."""
        require(actor, Permission.READ_STAFF_VIEWS)
        with self._db.reading() as connection:
            row = change_store.latest_simulation(connection, policy_store.split(label))
        if row is None:
            raise SimulationNotFound(f"{label} has not been simulated", policy=label)
        return _simulation_document(
            label,
            row["id"],
            row["at"],
            json.loads(row["summary"]),
            json.loads(row["chart"]),
        )

    # --- approve, schedule, retire -------------------------------------------------------------
    def approve(
        self,
        actor: Actor,
        key: str,
        label: str,
        effective_at: datetime | None,
        justification: str | None,
    ) -> CommandResult:
        """Maker-checker approval with the date the version takes effect (None: as early as
        the notice period allows); every adversely affected borrower is told now, in this
        transaction."""
        require(actor, Permission.APPROVE_POLICY)
        justification = checked_justification(justification)
        if effective_at is not None and effective_at.tzinfo is None:
            raise InvalidInput("effective_at needs a time zone", field="effective_at")
        parts = policy_store.split(label)
        self._active.engine()  # the active version exists (seeded) before the transaction
        request = {
            "op": "approve_policy",
            "policy": label,
            "effective_at": None if effective_at is None else effective_at.isoformat(),
            "justification": justification,
        }

        def work(tx: Transaction) -> dict[str, Any]:
            tx.lock_key(LIFECYCLE_LOCK)
            return self._approve_in(tx, actor, parts, effective_at, justification)

        return self._commands.run(actor, key, request, work, lambda d: d, core=True)

    def _approve_in(
        self,
        tx: Transaction,
        actor: Actor,
        parts: tuple[str, str],
        asked_at: datetime | None,
        justification: str | None,
    ) -> dict[str, Any]:
        now = self._clock.now()
        connection = tx.connection
        found = self._version(parts, connection)
        label = found.label
        require_transition(found.state, State.APPROVED, label)
        require_checker(actor, found.submitted_by, label)
        rules = self.notice_rules(found.currency)
        impact = fresh_impact(connection, found, now, rules)
        overridden = require_within_guardrail(
            impact, guardrail_of(found.document), actor, justification, label
        )
        effective_at = asked_at or earliest_effective(impact, now, rules)
        require_notice_period(impact, now, effective_at, rules)
        step = Step(
            State.APPROVED, actor.scope, now, justification, effective_at, impact.simulation_id
        )
        details = {"adverse_count": impact.adverse_count, "guardrail_overridden": overridden}
        policy_store.insert_step(connection, parts, step, details)
        notices = change_store.announce(connection, parts, impact.simulation_id, now, effective_at)
        queued = self._outbox.queue_selected(tx, Topic.POLICY_CHANGE, notices, now)
        return {
            **_state_document(label, State.APPROVED, []),
            "effective_at": effective_at.isoformat(),
            "simulation_id": impact.simulation_id,
            "notices_queued": queued,
            "guardrail_overridden": overridden,
        }

    def schedule(
        self, actor: Actor, key: str, label: str, justification: str | None
    ) -> CommandResult:
        """Put an approved version on the calendar: it becomes active at its effective date."""
        require(actor, Permission.APPROVE_POLICY)
        return self._step(actor, key, label, State.SCHEDULED, checked_justification(justification))

    def retire(
        self, actor: Actor, key: str, label: str, justification: str | None
    ) -> CommandResult:
        """Withdraw a version that is not active; the borrowers its approval told of a change
        are told that it will not happen. The active one is retired by activating its
        successor."""
        require(actor, Permission.APPROVE_POLICY)
        text = checked_justification(justification, required=True)
        return self._step(actor, key, label, State.RETIRED, text)

    def _step(
        self, actor: Actor, key: str, label: str, state: State, justification: str | None
    ) -> CommandResult:
        parts = policy_store.split(label)
        request = {"op": f"policy_{state.value}", "policy": label, "justification": justification}

        def work(tx: Transaction) -> dict[str, Any]:
            tx.lock_key(LIFECYCLE_LOCK)
            now = self._clock.now()
            found = self._version(parts, tx.connection)
            require_transition(found.state, state, label)
            approved = found.last(State.APPROVED)
            effective_at = None if approved is None else approved.effective_at
            step = Step(state, actor.scope, now, justification, effective_at)
            policy_store.insert_step(tx.connection, parts, step)
            document: dict[str, Any] = _state_document(label, state, [])
            if state is State.RETIRED:
                withdrawn = 0 if approved is None else self._withdraw(tx, parts, approved, now)
                document["notices_queued"] = withdrawn
            if effective_at is not None and state is State.SCHEDULED:
                document["effective_at"] = effective_at.isoformat()
            return document

        return self._commands.run(actor, key, request, work, lambda d: d, core=True)

    def _withdraw(
        self, tx: Transaction, parts: tuple[str, str], approved: Step, now: datetime
    ) -> int:
        """Tell each borrower told of the version's changes that they will not happen, and
        close the changes, set-based, in the retirement's transaction; how many were told."""
        effective_at = approved.effective_at or fail("an approval records its effective date")
        notices = change_store.withdrawals(parts, approved.at, effective_at, now)
        queued = self._outbox.queue_selected(tx, Topic.POLICY_CHANGE_WITHDRAWN, notices, now)
        change_store.record_withdrawn(tx.connection, parts, now)
        return queued

    # --- reads -------------------------------------------------------------------------------
    def history(self, actor: Actor, label: str) -> dict[str, Any]:
        """Every step of the version's life, with who, when and why (staff)."""
        require(actor, Permission.READ_STAFF_VIEWS)
        found = self._version(policy_store.split(label))
        return {
            "policy": found.label,
            "state": found.state.value,
            "currency": found.currency,
            "sha256": found.sha256,
            "submitted_by": found.submitted_by,
            "submitted_at": found.submitted_at.isoformat(),
            "steps": [
                {
                    "state": s.state.value,
                    "actor": s.actor,
                    "at": s.at.isoformat(),
                    "justification": s.justification,
                    "effective_at": None if s.effective_at is None else s.effective_at.isoformat(),
                    "simulation_id": s.simulation_id,
                }
                for s in found.steps
            ],
        }

    def diff(self, actor: Actor, label: str, against: str | None) -> dict[str, Any]:
        """What the version changes against another (default: the active one), rule by rule
        and cell by cell (staff)."""
        require(actor, Permission.READ_STAFF_VIEWS)
        found = self._version(policy_store.split(label))
        base_label = against or self._active.engine().policy.label
        base = self._version(policy_store.split(base_label))
        return {
            "policy": found.label,
            "against": base.label,
            "changes": document_diff(base.document, found.document),
        }

    def _version(self, parts: tuple[str, str], connection: Any = None) -> policy_store.Version:
        if connection is None:
            with self._db.reading() as reading:
                found = policy_store.version(reading, parts)
        else:
            found = policy_store.version(connection, parts)
        if found is None:
            raise PolicyNotFound("no such policy version", policy="@".join(parts))
        return found

    def _engine_of(self, document: dict[str, Any]) -> Engine:
        policy: PolicyDocument = parse_policy(document, self._catalogue)
        return Engine(policy, self._active.caps(policy.currency))


def fresh_impact(
    connection: Any, found: policy_store.Version, now: datetime, rules: NoticeRules
) -> Impact:
    """The impact of the version's latest simulation, when it is fresh and was made against
    the version active now (else `simulation_stale`)."""
    label = found.label
    row = change_store.latest_simulation(connection, (found.policy_id, found.version))
    impact = require_fresh(
        None if row is None else change_store.impact_of(row),
        now,
        rules.simulation_age_max,
        label,
    )
    active = policy_store.labels_in(connection, [State.ACTIVE], found.currency)
    active_label = "@".join(active[-1]) if active else None
    if row["against"] != active_label:
        raise SimulationStale(
            f"{label} was simulated against {row['against']}; {active_label} is active "
            "now: simulate it again",
            simulation_id=row["id"],
        )
    return impact


def guardrail_of(document: dict[str, Any]) -> Decimal:
    """The share of the book a version may adversely affect (its `guardrails`)."""
    guardrails = document.get("guardrails") or {}
    share = guardrails.get("adverse_share_max")
    return ADVERSE_SHARE_MAX_DEFAULT if share is None else Decimal(str(share))


def _state_document(label: str, state: State, problems: list[str]) -> dict[str, Any]:
    return {"policy": label, "state": state.value, "problems": problems}


def _simulation_document(
    label: str, simulation_id: str, at: datetime, summary: dict[str, Any], chart: dict[str, Any]
) -> dict[str, Any]:
    return {
        "policy": label,
        "simulation_id": simulation_id,
        "simulated_at": at.isoformat(),
        **summary,
        "chart": chart,
    }
