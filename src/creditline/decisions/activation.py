"""Activation: a scheduled version takes effect on its date, and announced changes come due.

`run` (`creditline policy activate`, and `serve` in the background) does two things, each line
in its own transaction:
1. A scheduled version whose effective date has come becomes active; the one it replaces is
   retired. Today's book is compared again, the new version against the one it replaced: a
   borrower adversely affected whom approval did not announce is told now, and their change
   waits out their own notice period (a pending change with its own date).
2. Every announced change that is due is decided again on current data with the active version
   (or, on its cell's lines, a running experiment's challenger) and applied through the review
   path (the ledger, with reasons and the adverse notice). A
   borrower whose outcome improved meanwhile is not cut; one the decision now treats more
   harshly than announced is told of the difference, which waits its own notice period.
Risk-triggered freezes are not held back by any of this: reviews apply them at once.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions import change_store, policy_store, trial_store
from creditline.decisions.active_policy import LIFECYCLE_LOCK, ActivePolicy
from creditline.decisions.announcements import announce_line
from creditline.decisions.book import todays_book
from creditline.decisions.bureau import BureauPort
from creditline.decisions.engine import Decision
from creditline.decisions.lifecycle import (
    NoticeRules,
    State,
    Step,
    harsher,
)
from creditline.decisions.policy import parse_policy
from creditline.decisions.service import DecisionService
from creditline.decisions.simulation import simulate
from creditline.kernel.actors import SYSTEM
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Conflict
from creditline.kernel.money import format_minor
from creditline.loans.products import Catalogue
from creditline.notices.outbox import Outbox

log = logging.getLogger(__name__)
ACTIVATED = "its effective date has come"


class Activation:
    """Makes scheduled versions active on their date and applies announced changes when due."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        catalogue: Catalogue,
        active: ActivePolicy,
        decisions: DecisionService,
        bureau: BureauPort,
        outbox: Outbox,
        notice_rules: Callable[[str], NoticeRules],
    ) -> None:
        self._db = db
        self._clock = clock
        self._catalogue = catalogue
        self._active = active
        self._decisions = decisions
        self._bureau = bureau
        self._outbox = outbox
        self._notice_rules = notice_rules

    def run(self) -> dict[str, int]:
        """Activate what is due, then apply the announced changes that are due."""
        now = self._clock.now()
        counts: Counter[str] = Counter()
        for parts in self._due(now):
            counts += self._activate(parts, now)
        counts += self._apply_due(now)
        return dict(sorted(counts.items()))

    def _due(self, now: datetime) -> list[tuple[str, str]]:
        due = []
        with self._db.reading() as connection:
            currency = self._active.currency
            for parts in policy_store.labels_in(connection, [State.SCHEDULED], currency):
                found = policy_store.version(connection, parts)
                step = None if found is None else found.last(State.SCHEDULED)
                if step is not None and step.effective_at is not None and step.effective_at <= now:
                    due.append(parts)
        return due

    def _activate(self, parts: tuple[str, str], now: datetime) -> Counter[str]:
        previous = self._active.engine()
        label = "@".join(parts)

        def work(tx: Transaction) -> bool:
            tx.lock_key(LIFECYCLE_LOCK)
            connection = tx.connection
            found = policy_store.version(connection, parts)
            if found is None or found.state is not State.SCHEDULED:
                return False  # another process activated (or someone retired) it meanwhile
            policy = parse_policy(found.document, self._catalogue)
            policy_store.store_decided(tx, policy, now)
            scheduled = found.last(State.SCHEDULED)
            effective_at = None if scheduled is None else scheduled.effective_at
            step = Step(State.ACTIVE, SYSTEM.scope, now, ACTIVATED, effective_at)
            policy_store.insert_step(connection, parts, step)
            for old in policy_store.labels_in(connection, [State.ACTIVE], found.currency):
                if old != parts:
                    retired = Step(State.RETIRED, SYSTEM.scope, now, f"replaced by {label}")
                    policy_store.insert_step(connection, old, retired)
            return True

        if not self._db.run(work, core=True):
            return Counter()
        self._active.refresh()
        log.info("policy %s is active (it replaces %s)", label, previous.policy.label)
        current = self._active.engine()
        rows, owners = todays_book(self._db, current.policy, now, self._bureau, previous.policy)
        with self._db.reading() as connection:
            announced = {
                row["line_id"] for row in change_store.pending_of_version(connection, parts)
            }
        simulated = simulate(current, previous, rows)
        counts: Counter[str] = Counter({"activated": 1})
        currency = current.policy.currency
        for line in simulated.affected:
            if line.line_id in announced:
                continue
            owner = (line.line_id, owners[line.line_id])
            self._db.run(
                partial(self._announce_in, parts=parts, line=owner, change=line.change(currency)),
                core=True,
            )
            counts["newly_affected"] += 1
        return counts

    def _announce_in(self, tx: Transaction, parts: Any, line: Any, change: dict[str, Any]) -> None:
        """Tell one borrower of a change to come, which waits their own notice period."""
        rules = self._notice_rules(change["currency"])
        announce_line(tx, self._outbox, rules, parts, line, change, self._clock.now())

    def _apply_due(self, now: datetime) -> Counter[str]:
        """The announced changes that are due, of the active version and of a running
        experiment's challenger (on the lines of its cell)."""
        counts: Counter[str] = Counter()
        engine = self._active.engine()
        deciding = [(engine.policy.id, engine.policy.version)]
        with self._db.reading() as connection:
            experiment = trial_store.running(connection, engine.policy.currency)
            if experiment is not None:
                deciding.append((experiment["policy_id"], experiment["version"]))
            due = [
                (parts, change)
                for parts in deciding
                for change in change_store.pending_of_version(connection, parts, due_by=now)
            ]
        if due:
            self._decisions.ready()
        for parts, change in due:
            try:
                outcome = self._db.run(
                    partial(self._apply_in, parts=parts, change=change, now=now), core=True
                )
            except Conflict:  # the line was closed meanwhile: nothing to cut
                closed = partial(
                    self._record, change=change, outcome="line_closed", decision_id=None, now=now
                )
                outcome = self._db.run(closed, core=True)
            counts[outcome] += 1
        return counts

    def _apply_in(self, tx: Transaction, parts: tuple[str, str], change: Any, now: datetime) -> str:
        decision: Decision = self._decisions.decide_in(tx, change["line_id"])
        announced = json.loads(change["change"])
        if not decision.adverse:
            return self._record(tx, change, "not_adverse", None, now)
        if harsher(
            decision.action,
            decision.new_limit_minor,
            announced["action"],
            announced["limit_after_minor"],
        ):
            currency = announced["currency"]
            worse = {
                "action": decision.action,
                "currency": currency,
                **_limits(decision, currency),
                "reason_codes": list(decision.reason_codes),
                "rule": decision.decisive_rule,
            }
            self._announce_in(tx, parts, (change["line_id"], change["borrower_id"]), worse)
            return self._record(tx, change, "renoticed", None, now)
        # The policy change's notice was the borrower's notice of this change (a close's
        # termination notice too): it is not given again from today.
        applied = self._decisions.apply_in(tx, decision, now, change["announced_at"])
        return self._record(tx, change, applied.outcome, applied.decision_id, now)

    def _record(
        self, tx: Transaction, change: Any, outcome: str, decision_id: str | None, now: datetime
    ) -> str:
        change_store.record_outcome(tx.connection, change["id"], outcome, decision_id, now)
        return outcome


def _limits(decision: Decision, currency: str) -> dict[str, Any]:
    return {
        "limit_before": format_minor(decision.limit_minor, currency),
        "limit_after": format_minor(decision.new_limit_minor, currency),
        "limit_before_minor": decision.limit_minor,
        "limit_after_minor": decision.new_limit_minor,
    }
