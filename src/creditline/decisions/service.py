"""Reviewing lines: the policy's decision on a line's features, applied through the ledger.

A decision changes a line only through the ledger's `decide` port, inside the transaction of
the review, so its record, journal entry and notice are written together with the evidence the
engine saw (policy, score, grade, trace, features). Each review's change is a command whose
key names the policy, the line and the lender's business date: a line is changed by a review
at most once a day, and a book review stopped half-way and run again applies nothing twice.
A review of the whole book decides every line with the compiled query, on DuckDB in batches or
on Spark (`decisions/batch.py`), and applies the changes in chunks, one transaction a chunk,
whichever engine decided them: each change in a chunk keeps its own key, decision record,
journal entry and notice, exactly as a line reviewed alone (docs/decisions/0025).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from creditline.db.commands import Commands
from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions import change_store
from creditline.decisions.attributes import LenderAttribute
from creditline.decisions.batch import (
    BookDecider,
    changes_in_duckdb,
    collector_paused,
    in_duckdb,
)
from creditline.decisions.book import book_features, chunks
from creditline.decisions.bureau import BureauPort
from creditline.decisions.engine import Decision, Engine
from creditline.decisions.review_chunks import (
    ChunkReads,
    announced_changes,
    lock_and_report,
    waits_for_announced,
)
from creditline.decisions.trials import Trials
from creditline.kernel.actors import Actor, Role
from creditline.kernel.canonical import CanonicalObject
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Conflict, IdempotencyKeyReused, LimitAboveCap
from creditline.kernel.invariant import invariant
from creditline.kernel.money import Money
from creditline.ledger.ports import Action, DecisionRecord, LimitChange, Line, decision_document
from creditline.ledger.service import LedgerService

REVIEWER = Actor("policy-engine", Role.SERVICE)
APPLY_CHUNK = 250  # changes a book review applies in one transaction
APPLY_WORKERS = 2  # chunks applied at the same time (one waits on the store, one computes)
_DAY = timedelta(days=1)

Progress = Callable[[int, int], None]  # (lines done, lines in all)


@dataclass(frozen=True, slots=True)
class Applied:
    """A review's decision and what became of it: applied, replayed, decided_today (a review
    changed the line today already), kept (nothing to change), refused (the line moved on) or
    awaiting_notice (the policy announced this cut for a later date)."""

    decision: Decision
    outcome: str
    decision_id: str | None = None  # the recorded change, when one was made

    def document(self) -> dict[str, Any]:
        """What a borrower who asked for the review is told of it."""
        d = self.decision
        return {
            "line_id": d.line_id,
            "action": d.action,
            "outcome": self.outcome,
            "reason_codes": list(d.reason_codes),
            "score": d.score,
            "grade": d.grade,
            "policy": d.policy,
        }


class DecisionService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        commands: Commands,
        ledger: LedgerService,
        engine: Callable[[], Engine],
        bureau: BureauPort,
        trials: Trials | None = None,
    ) -> None:
        self._bureau = bureau
        self._trials = trials  # versions in shadow, and a challenger's cell
        self._db = db
        self._clock = clock
        self._commands = commands
        self._ledger = ledger
        self._engine = engine
        self._awaiting_notice = db.prepare(change_store.awaiting_notice())
        self._awaiting_notices = db.prepare(change_store.awaiting_notice_many())

    @property
    def engine(self) -> Engine:
        """The policy's engine, built on first use (a missing policy fails the review only)."""
        return self._engine()

    def business_date(self, at: datetime) -> date:
        """The policy's lender's calendar date at `at`."""
        return self.engine.policy.business_date(at)

    def decide_in(self, tx: Transaction, line_id: str) -> Decision:
        """In `tx` (with a Core connection): what the policy decides for one line now, on
        features that see the transaction's own writes. Nothing is applied."""
        now = self._clock.now()
        currency = self.engine.policy.currency
        found = book_features(
            tx.connection,
            now,
            self.business_date(now),
            self._bureau,
            [line_id],
            currency,
            self._attributes(),
        )
        if not found:
            raise Conflict(
                f"the line is closed, does not exist or is not in {currency}, the currency the "
                "policy decides",
                line_id=line_id,
            )
        if self._trials is None:
            return self.engine.decide(found[0])
        return self._trials.decide(found[0])

    def decide_line(self, line_id: str) -> Decision:
        """What the policy decides for one line now (nothing applied)."""
        self.ready()
        return self._db.read(lambda tx: self.decide_in(tx, line_id))

    def review_in(self, tx: Transaction, line_id: str) -> Applied:
        """In `tx` (with a Core connection): decide one line and apply the decision."""
        return self.apply_in(tx, self.decide_in(tx, line_id), self._clock.now())

    def review_line(self, line_id: str) -> Applied:
        """Decide one line now and apply the decision, in one transaction."""
        self.ready()
        return self._db.run(lambda tx: self.review_in(tx, line_id), core=True)

    def ready(self) -> None:
        """Build the engine now, before a transaction that needs it: building stores the policy
        in a transaction of its own, which must not wait behind the caller's (SQLite has one
        writer at a time)."""
        self._engine()

    def review_after(self, line_id: str) -> None:
        """Review a line after a drawdown (velocity rules) or a settlement (re-evaluation: the
        line stays restored unless a rule fires); a line closed meanwhile has nothing to do."""
        try:
            self.review_line(line_id)
        except Conflict:
            return

    def review_book(
        self,
        progress: Progress | None = None,
        decide: BookDecider | None = None,
        chunk: int = APPLY_CHUNK,
    ) -> dict[str, int]:
        """Decide every line with the policy's compiled query, on DuckDB in batches or as
        `decide` says (`decisions.spark.book_on_spark`); apply every change through the ledger,
        whichever engine decided it, `chunk` changes to a transaction."""
        with collector_paused():
            return self._review_book(progress, decide, chunk)

    def _review_book(
        self, progress: Progress | None, decide: BookDecider | None, chunk: int
    ) -> dict[str, int]:
        now = self._clock.now()
        policy = self.engine.policy
        with self._db.reading() as connection:
            book = book_features(
                connection,
                now,
                policy.business_date(now),
                self._bureau,
                currency=policy.currency,  # lines in other currencies are not this policy's
                attributes=self._attributes(),
            )
        engine = self.engine
        # Kept lines need a decision only for the versions on trial to record beside.
        lean = decide is None and (self._trials is None or not self._trials.running().any)
        by_line = {row["line_id"]: row for row in book}
        batches = (
            changes_in_duckdb(engine, book)
            if lean
            else (
                (self._routed(batch, by_line), 0) for batch in (decide or in_duckdb)(engine, book)
            )
        )
        outcomes: dict[str, int] = {"keep:kept": 0}
        done = 0
        with ThreadPoolExecutor(APPLY_WORKERS, thread_name_prefix="review") as pool:
            for decided, kept in batches:
                applied_all = [Applied(d, "kept") for d in decided if d.action == "keep"]
                changes = sorted(
                    (d for d in decided if d.action != "keep"), key=lambda d: d.line_id
                )
                for part in pool.map(
                    lambda part: self._apply_chunk(part, now), chunks(changes, chunk)
                ):
                    applied_all.extend(part)
                self._record_kept(applied_all, now)
                outcomes["keep:kept"] += kept
                for applied in applied_all:
                    key = f"{applied.decision.action}:{applied.outcome}"
                    outcomes[key] = outcomes.get(key, 0) + 1
                done += len(decided) + kept
                if progress is not None:
                    progress(done, len(book))
        # Whichever engine decided, it returned as many decisions as the book has lines.
        invariant(done == len(book), f"{done} decisions for a book of {len(book)} lines")
        return dict(sorted((k, v) for k, v in outcomes.items() if v))

    def _attributes(self) -> list[LenderAttribute]:
        """The lender attributes a line's features include: the active version's and those of
        the versions on trial."""
        if self._trials is None:
            return self.engine.policy.attributes
        return self._trials.attributes()

    def _routed(
        self, decided: list[Decision], by_line: dict[str, dict[str, Any]]
    ) -> list[Decision]:
        """A batch the active version decided, each line in a running experiment's challenger
        cell decided again by the challenger; with what was read for the versions on trial."""
        trials = self._trials
        if trials is None or not trials.running().any:
            return decided
        return [trials.reroute(d, by_line[d.line_id]) for d in decided]

    def _apply_chunk(self, changes: list[Decision], now: datetime) -> list[Applied]:
        """Apply a chunk of changes in one transaction, each as `apply_in` applies one line's,
        on what the chunk read for all of them at once (`_chunk_reads`), their writes sent
        together, a statement at a time (`Transaction.batched`): the chunk commits
        whole or not at all (a retry runs it whole again, reads too). A refused change writes
        nothing, so the others go on. Lines are locked in id order, as every chunk takes
        them, so two chunks never wait on each other in a cycle."""
        # Whether trials run, asked once a chunk: their records and a challenger's guardrail
        # (Core statements) are made for all its changes or none.
        on_trial = self._trials is not None and (
            self._trials.running().any or any(d.experiment is not None for d in changes)
        )
        apply = self.apply_in if on_trial else self._apply_decision

        def work(tx: Transaction) -> list[Applied]:
            reads = self._chunk_reads(tx, changes, now)
            with tx.batched():  # each table's rows in one `executemany`
                return [apply(tx, d, now, None, reads) for d in changes]

        return self._db.run(work, core=on_trial)

    def _chunk_reads(self, tx: Transaction, changes: list[Decision], now: datetime) -> ChunkReads:
        """In `tx`: each change's announced change and stored key, then the lines still to
        change, locked, and the reports on file their adverse notices disclose, one statement
        each for the whole chunk."""
        day = self.business_date(now).isoformat()  # the day every change's key names
        announced = announced_changes(tx, self._awaiting_notices, changes, now)
        keys = self._commands.stored_keys(tx, REVIEWER, [self._key(d, day) for d in changes])
        waiting = {
            d.line_id
            for d in changes
            if d.adverse and waits_for_announced(d, announced.get(d.line_id))
        }
        to_change = [
            d for d in changes if d.line_id not in waiting and self._key(d, day) not in keys.found
        ]
        adverse = {d.line_id for d in to_change if d.adverse}
        port = self._ledger.port
        lines, reports = lock_and_report(
            tx, port, REVIEWER, [d.line_id for d in to_change], adverse
        )
        return ChunkReads(day, keys, announced, lines, reports)

    def _record_kept(self, applied: list[Applied], now: datetime) -> None:
        """What versions on trial decided beside a batch's lines the review keeps as they are
        (the changes were recorded with their own transactions)."""
        trials = self._trials
        if trials is None or not trials.running().any:
            return
        kept = [(a.decision, a.outcome, None) for a in applied if a.outcome == "kept"]
        self._db.run(lambda tx: trials.record_in(tx, kept, now), core=True)

    def apply_in(
        self,
        tx: Transaction,
        decision: Decision,
        now: datetime,
        announced_at: datetime | None = None,
        reads: ChunkReads | None = None,
    ) -> Applied:
        """In `tx`: apply a review's decision through the ledger, once per line, business day
        and action (the change's key names all three): the same review run again changes
        nothing, and a cut earlier in the day does not swallow a freeze a rule calls for.
        While versions are on trial: a challenger's decision is checked against its
        experiment's guardrails first, and what the versions on trial decided is recorded.
        `announced_at`: when a policy change told the borrower of it ahead; a close's
        termination notice runs from then. `reads`: what its chunk read for it already."""
        trials = self._trials
        if trials is None:
            return self._apply_decision(tx, decision, now, announced_at, reads)
        decision = trials.guard_in(tx, decision, now)
        applied = self._apply_decision(tx, decision, now, announced_at, reads)
        trials.record_in(tx, [(applied.decision, applied.outcome, applied.decision_id)], now)
        return applied

    def _apply_decision(
        self,
        tx: Transaction,
        decision: Decision,
        now: datetime,
        announced_at: datetime | None,
        reads: ChunkReads | None,
    ) -> Applied:
        if decision.action == "keep":
            return Applied(decision, "kept")
        if decision.adverse and (
            self._announced_later(tx, decision, now, reads)
            or (self._trials is not None and self._trials.waits_for_notice(tx, decision, now))
        ):
            return Applied(decision, "awaiting_notice")
        currency = self.engine.policy.currency  # the only currency it decides
        new_limit = None
        if decision.action in ("increase", "decrease"):
            new_limit = Money(decision.new_limit_minor, currency).format()
        until = None
        if decision.action == "freeze":
            until = now + (decision.freeze_days or 0) * _DAY
        day = self.business_date(now).isoformat() if reads is None else reads.day
        key = self._key(decision, day)
        # Encoded once, for the key's fingerprint and the decision's record.
        evidence = CanonicalObject.of(decision.evidence())
        request: dict[str, Any] = {
            "op": "review",
            "line_id": decision.line_id,
            "action": decision.action,
        }
        request |= {"limit": new_limit, "reason_codes": list(decision.reason_codes)}
        request |= {"until": None if until is None else until.isoformat()}
        notice_given_at = announced_at if decision.action == "close" else None
        if notice_given_at is not None:
            request["notice_given_at"] = notice_given_at.isoformat()
        # What it saw: the same day's review on other facts is a different request.
        request_text = CanonicalObject.of(request).with_object("evidence", evidence).text()
        change = LimitChange(
            action=Action(decision.action),
            reason_codes=tuple(decision.reason_codes),
            limit_minor=None if new_limit is None else decision.new_limit_minor,
            until=until,
            policy_version=decision.policy,
            notice_given_at=notice_given_at,
        )

        port = self._ledger.port

        def work(tx: Transaction) -> tuple[Line, DecisionRecord]:
            line = None if reads is None else reads.locked(decision.line_id)
            if line is None:
                line = port.lock(tx, REVIEWER, decision.line_id)
            reports = None if reads is None else reads.reports
            return port.decide(tx, REVIEWER, line, change, evidence, reports=reports)

        known = None if reads is None else reads.keys
        try:
            result = self._commands.run_in(
                tx, REVIEWER, key, request_text, work, lambda d: decision_document(d[1]), known
            )
        except IdempotencyKeyReused:
            return Applied(decision, "decided_today")  # a review already changed it today
        except (Conflict, LimitAboveCap):
            # The line moved on meanwhile (already suspended, used above the cut), or the
            # borrower's other lines leave this one's increase no room under a cap (the policy
            # sees one line; the caps are per borrower): nothing to do.
            return Applied(decision, "refused")
        outcome = "replayed" if result.replayed else "applied"
        return Applied(decision, outcome, result.document["id"])

    def _key(self, decision: Decision, day: str) -> str:
        """The change's idempotency key: once per policy, line, business `day` and action."""
        return f"review:{decision.policy}:{decision.line_id}:{day}:{decision.action}"

    def _announced_later(
        self, tx: Transaction, decision: Decision, now: datetime, reads: ChunkReads | None
    ) -> bool:
        """Whether the policy that decided announced this line's change for a later date: its
        cut waits until then (`waits_for_announced`)."""
        if reads is not None and decision.line_id in reads.announced:
            return waits_for_announced(decision, reads.announced[decision.line_id])
        policy_id, _, version = decision.policy.partition("@")
        params = {"line_id": decision.line_id, "policy_id": policy_id, "version": version}
        row = tx.one(self._awaiting_notice, {**params, "now": tx.time(now)})
        return waits_for_announced(decision, None if row is None else json.loads(row[0]))
