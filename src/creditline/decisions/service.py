"""Reviewing lines: features from the ledger, the policy's decision, applied through the ledger.

A decision changes a line only through `LedgerService.change_limit`, so its record, journal
entry and notice are written in one transaction, with the evidence the engine saw (policy,
score, grade, trace, features). A review of the whole book decides every line in one DuckDB
query and applies the changes line by line; each change's idempotency key names the policy,
the line and the business date, so a review stopped half-way and run again applies nothing
twice.

Bureau features come from the borrower's latest report through the bureau port, application
features from their latest application; what is unknown is null, which the policy scores as
"missing".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import duckdb
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    select,
    update,
)

from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.applications import application_features
from creditline.decisions.bureau import BureauPort
from creditline.decisions.engine import (
    Decision,
    Engine,
    features_table_sql,
    load_features,
)
from creditline.decisions.tables import reviews
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import Clock
from creditline.kernel.errors import (
    Conflict,
    DecisionNotFound,
    IdempotencyKeyReused,
    InvalidInput,
    LineNotFound,
)
from creditline.kernel.ids import is_id, new_id
from creditline.kernel.money import format_minor
from creditline.kernel.reasons import reason_texts
from creditline.ledger.service import LedgerService
from creditline.ledger.tables import decisions, drawdowns, lines
from creditline.loans.tables import instalments, loans

REVIEWER = Actor("policy-engine", Role.SERVICE)
BATCH_LINES = 10_000
BORROWERS_PER_QUERY_MAX = 10_000
APPLY_WORKERS = 4  # changes applied at the same time by a book review
DECISIONS_LISTED_MAX = 200
_DAY = timedelta(days=1)

Progress = Callable[[int, int], None]  # (lines done, lines in all)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Applied:
    decision: Decision
    outcome: str  # applied, replayed, decided_today, kept, refused
    decision_id: str | None = None  # the recorded change, when one was made

    def document(self) -> dict[str, Any]:
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


def book_features(
    connection: Connection,
    now: datetime,
    today: date,
    bureau: BureauPort,
    line_ids: list[str] | None = None,
    currency: str | None = None,
) -> list[dict[str, Any]]:
    """Each reviewable line's features (in `currency`, when given): from the ledger, and from
    its borrower's latest application and bureau report (null when there is none)."""
    found = ledger_features(connection, now, today, line_ids, currency)
    borrowers = sorted({borrower for borrower, _ in found})
    reports: dict[str, dict[str, Any]] = {}
    declared: dict[str, dict[str, Any]] = {}
    # In chunks: a statement binds at most 65,535 parameters on PostgreSQL.
    for chunk in _chunks(borrowers, BORROWERS_PER_QUERY_MAX):
        reports.update(bureau.latest(connection, chunk))
        declared.update(application_features(connection, chunk, now, today))
    return [
        {**features, **declared.get(borrower, {}), **reports.get(borrower, {})}
        for borrower, features in found
    ]


def ledger_features(
    connection: Connection,
    now: datetime,
    today: date,
    line_ids: list[str] | None = None,
    currency: str | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Each line's borrower and features computed from our own tables (open, frozen or
    suspended lines). `today` is the lender's business date: instalments due before it have
    fallen due."""

    def since(days: int) -> Any:
        return func.sum(case((drawdowns.c.resolved_at >= now - days * _DAY, 1), else_=0))

    posted = (
        select(
            drawdowns.c.line_id,
            since(7).label("d7"),
            since(30).label("d30"),
            since(90).label("d90"),
        )
        .where(drawdowns.c.status == "posted")
        .group_by(drawdowns.c.line_id)
        .subquery()
    )
    loan_facts = (
        select(
            loans.c.line_id,
            func.sum(case((loans.c.status == "settled", 1), else_=0)).label("settled"),
            func.max(case((loans.c.status == "open", loans.c.dpd), else_=0)).label("dpd"),
        )
        .group_by(loans.c.line_id)
        .subquery()
    )
    record = _repayment_record(connection, today)
    asked = (
        select(
            reviews.c.borrower_id,
            func.sum(case((reviews.c.created_at >= now - 7 * _DAY, 1), else_=0)).label("r7"),
            func.count().label("r30"),
        )
        .where(reviews.c.created_at >= now - 30 * _DAY)
        .group_by(reviews.c.borrower_id)
        .subquery()
    )
    changes = (
        select(
            decisions.c.line_id,
            func.max(
                case((decisions.c.action.in_(("increase", "decrease")), decisions.c.created_at))
            ).label("changed"),
            func.max(
                case((decisions.c.action.in_(("decrease", "freeze")), decisions.c.created_at))
            ).label("cut"),
        )
        .group_by(decisions.c.line_id)
        .subquery()
    )
    query = (
        select(
            lines.c.id,
            lines.c.borrower_id,
            lines.c.limit_minor,
            lines.c.principal_outstanding_minor,
            lines.c.held_minor,
            lines.c.created_at,
            posted.c.d7,
            posted.c.d30,
            posted.c.d90,
            loan_facts.c.settled,
            loan_facts.c.dpd,
            changes.c.changed,
            changes.c.cut,
            record.c.fallen_due,
            record.c.on_time,
            record.c.late_paid_max,
            record.c.oldest_unpaid,
            asked.c.r7,
            asked.c.r30,
        )
        .select_from(
            lines.outerjoin(posted, posted.c.line_id == lines.c.id)
            .outerjoin(loan_facts, loan_facts.c.line_id == lines.c.id)
            .outerjoin(changes, changes.c.line_id == lines.c.id)
            .outerjoin(record, record.c.line_id == lines.c.id)
            .outerjoin(asked, asked.c.borrower_id == lines.c.borrower_id)
        )
        .where(lines.c.status != "closed")
        .order_by(lines.c.id)
    )
    if line_ids is not None:
        query = query.where(lines.c.id.in_(line_ids))
    if currency is not None:
        query = query.where(lines.c.currency == currency)
    rows = []
    for r in connection.execute(query):
        used = r.principal_outstanding_minor + r.held_minor
        opened = _aware(r.created_at)
        rows.append(
            (
                r.borrower_id,
                {
                    "line_id": r.id,
                    "limit_minor": r.limit_minor,
                    "used_minor": used,
                    "utilisation": used / r.limit_minor if r.limit_minor else 0.0,
                    "drawdowns_7d": r.d7 or 0,
                    "drawdowns_30d": r.d30 or 0,
                    "drawdowns_90d": r.d90 or 0,
                    "increase_requests_7d": r.r7 or 0,
                    "increase_requests_30d": r.r30 or 0,
                    "on_time_ratio": r.on_time / r.fallen_due if r.fallen_due else None,
                    "max_dpd_12m": max(r.late_paid_max or 0, _days_late(r.oldest_unpaid, today)),
                    "dpd": r.dpd or 0,
                    "months_on_book": _months_between(opened, now),
                    "settled_loans": r.settled or 0,
                    # Opening the line set its first limit: it counts as a change.
                    "days_since_limit_change": _days_since(r.changed or r.created_at, now),
                    "days_since_cut": _days_since(r.cut, now),
                },
            )
        )
    return rows


def _repayment_record(connection: Connection, today: date) -> Any:
    """Per line: instalments fallen due, those paid in full by their due date, the most days
    late of any paid in the last 12 months, and the oldest still unpaid."""
    i = instalments.c
    fallen = i.due_date < today
    days_late: ColumnElement[Any]
    if connection.dialect.name == "sqlite":
        days_late = cast(func.julianday(i.paid_on) - func.julianday(i.due_date), Integer)
    else:
        days_late = i.paid_on - i.due_date
    return (
        select(
            loans.c.line_id,
            func.sum(case((fallen, 1), else_=0)).label("fallen_due"),
            func.sum(case((and_(fallen, i.paid_on <= i.due_date), 1), else_=0)).label("on_time"),
            func.max(
                case((and_(i.paid_on > i.due_date, i.paid_on > today - 365 * _DAY), days_late))
            ).label("late_paid_max"),
            func.min(case((and_(fallen, i.paid_on.is_(None)), i.due_date))).label("oldest_unpaid"),
        )
        .select_from(instalments.join(loans, loans.c.id == i.loan_id))
        .group_by(loans.c.line_id)
        .subquery()
    )


def _days_late(oldest_unpaid: Any, today: date) -> int:
    due = Transaction.read_date(oldest_unpaid)
    return 0 if due is None else (today - due).days


def _aware(value: Any) -> datetime:
    moment = Transaction.read_time(value)
    assert moment is not None
    return moment


def _days_since(value: Any, now: datetime) -> int | None:
    return None if value is None else (now - _aware(value)).days


def _months_between(start: datetime, end: datetime) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - (1 if end.day < start.day else 0)


class DecisionService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: LedgerService,
        engine: Callable[[], Engine],
        bureau: BureauPort,
    ) -> None:
        self._bureau = bureau
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._engine = engine
        self._review_insert = db.prepare(insert(reviews))
        self._review_done = db.prepare(
            update(reviews)
            .where(reviews.c.id == bindparam("id"))
            .values(outcome=bindparam("outcome"), decision_id=bindparam("decision_id"))
        )

    @property
    def engine(self) -> Engine:
        """The policy's engine, built on first use (a missing policy fails the review only)."""
        return self._engine()

    def business_date(self, at: datetime) -> date:
        """The policy's lender's calendar date at `at`."""
        return self.engine.policy.business_date(at)

    def decide_line(self, line_id: str) -> Decision:
        """What the policy decides for one line now (nothing applied)."""
        now = self._clock.now()
        currency = self.engine.policy.currency
        with self._db.reading() as connection:
            found = book_features(
                connection, now, self.business_date(now), self._bureau, [line_id], currency
            )
        if not found:
            raise Conflict(
                f"the line is closed, does not exist or is not in {currency}, the currency the "
                "policy decides",
                line_id=line_id,
            )
        return self.engine.decide(found[0])

    def review_line(self, line_id: str) -> Applied:
        """Decide one line now and apply the decision."""
        decision = self.decide_line(line_id)
        return self._apply(decision, self._clock.now())

    def review_after(self, line_id: str) -> None:
        """Review a line after a drawdown (velocity rules) or a settlement (re-evaluation: the
        line stays restored unless a rule fires); a line closed meanwhile has nothing to do."""
        try:
            self.review_line(line_id)
        except Conflict:
            return

    def request_review(self, actor: Actor, line_id: str) -> dict[str, Any]:
        """A review the borrower (or staff for them) asks for: decided and applied now."""
        line = self._ledger.get_line(actor, line_id)  # the borrower's own line, or staff
        review_id = new_id()
        # Recorded first: the request itself counts among the borrower's recent requests.
        self._db.run(
            lambda tx: tx.execute(
                self._review_insert,
                {
                    "id": review_id,
                    "line_id": line["id"],
                    "borrower_id": line["borrower_id"],
                    "requested_by": actor.subject,
                    "created_at": tx.time(self._clock.now()),
                    "decision_id": None,
                    "outcome": "pending",
                    "kind": "automatic",
                    "reason_text": None,
                    "due_at": None,
                    "contested_decision_id": None,
                    "decided_by": None,
                    "decided_at": None,
                    "note": None,
                },
            )
        )
        applied = self.review_line(line_id)
        self._db.run(
            lambda tx: tx.execute(
                self._review_done,
                {"id": review_id, "outcome": applied.outcome, "decision_id": applied.decision_id},
            )
        )
        document = applied.document()
        document["review_id"] = review_id
        document["line"] = self._ledger.get_line(actor, line_id)
        return document

    def line_decisions(self, actor: Actor, line_id: str, limit: int = 50) -> dict[str, Any]:
        """The line's decisions, newest first, each with its reasons in plain language."""
        if not 1 <= limit <= DECISIONS_LISTED_MAX:
            raise InvalidInput(f"limit must be 1–{DECISIONS_LISTED_MAX}")
        line = self._ledger.get_line(actor, line_id)
        with self._db.reading() as connection:
            rows = connection.execute(
                select(decisions)
                .where(decisions.c.line_id == line["id"])
                .order_by(decisions.c.id.desc())
                .limit(limit)
            ).mappings()
            listed = [_decision_document(row, line["currency"], staff=False) for row in rows]
        return {"line_id": line["id"], "decisions": listed}

    def get_decision(self, actor: Actor, decision_id: str) -> dict[str, Any]:
        """One decision; staff also see its evidence (score, trace, features)."""
        if not is_id(decision_id):
            raise DecisionNotFound("no such decision")
        with self._db.reading() as connection:
            row = (
                connection.execute(select(decisions).where(decisions.c.id == decision_id))
                .mappings()
                .first()
            )
        if row is None:
            raise DecisionNotFound("no such decision", decision_id=decision_id)
        try:
            line = self._ledger.get_line(actor, row["line_id"])
        except LineNotFound:
            raise DecisionNotFound("no such decision", decision_id=decision_id) from None
        return _decision_document(row, line["currency"], staff=actor.role is not Role.BORROWER)

    def review_book(self, progress: Progress | None = None) -> dict[str, int]:
        """Decide every line in one DuckDB query; apply every change through the ledger."""
        now = self._clock.now()
        with self._db.reading() as connection:
            policy = self.engine.policy
            book = book_features(
                connection,
                now,
                policy.business_date(now),
                self._bureau,
                currency=policy.currency,  # lines in other currencies are not this policy's
            )
        engine = self.engine
        outcomes: dict[str, int] = {}
        done = 0
        # Each change is its own transaction on its own line: a few at a time hide the round
        # trips (the ledger locks per line; lines do not share a transaction).
        with ThreadPoolExecutor(APPLY_WORKERS, thread_name_prefix="review") as pool:
            for batch in _chunks(book, BATCH_LINES):
                decided = _decide_batch(engine, batch)
                for applied in pool.map(lambda d: self._apply(d, now), decided):
                    key = f"{applied.decision.action}:{applied.outcome}"
                    outcomes[key] = outcomes.get(key, 0) + 1
                done += len(batch)
                if progress is not None:
                    progress(done, len(book))
        return dict(sorted(outcomes.items()))

    def _apply(self, decision: Decision, now: datetime) -> Applied:
        if decision.action == "keep":
            return Applied(decision, "kept")
        currency = self.engine.policy.currency  # the only currency it decides
        options: dict[str, Any] = {}
        if decision.action in ("increase", "decrease"):
            options["limit"] = format_minor(decision.new_limit_minor, currency)
        if decision.action == "freeze":
            options["until"] = now + (decision.freeze_days or 0) * _DAY
        # One review's change per line and business day of the policy's lender.
        day = self.engine.policy.business_date(now).isoformat()
        key = f"review:{decision.policy}:{decision.line_id}:{day}"
        try:
            result = self._ledger.change_limit(
                REVIEWER,
                key,
                decision.line_id,
                decision.action,
                list(decision.reason_codes),
                policy_version=decision.policy,
                evidence=decision.evidence(),
                **options,
            )
        except IdempotencyKeyReused:
            return Applied(decision, "decided_today")  # a review already changed it today
        except Conflict:
            # The line moved on meanwhile (already suspended, used above the cut): nothing to do.
            return Applied(decision, "refused")
        return Applied(
            decision,
            "replayed" if result.replayed else "applied",
            result.document["decision"]["id"],
        )


def _decision_document(row: Any, currency: str, *, staff: bool) -> dict[str, Any]:
    codes = json.loads(row["reason_codes"])
    document: dict[str, Any] = {
        "id": row["id"],
        "line_id": row["line_id"],
        "action": row["action"],
        "adverse": row["adverse"],
        "limit_before": format_minor(row["limit_before_minor"], currency),
        "limit_after": format_minor(row["limit_after_minor"], currency),
        "status_before": row["status_before"],
        "status_after": row["status_after"],
        "until": None if row["until"] is None else row["until"].isoformat(),
        "reason_codes": codes,
        "reasons": reason_texts(codes),
        "policy_version": row["policy_version"],
        "automated": row["evidence"] is not None,
        "at": row["created_at"].isoformat(),
    }
    if staff:
        document["actor"] = f"{row['actor_role']}:{row['actor_subject']}"
        document["note"] = row["note"]
        document["evidence"] = None if row["evidence"] is None else json.loads(row["evidence"])
    return document


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _decide_batch(engine: Engine, rows: list[dict[str, Any]]) -> list[Decision]:
    connection = duckdb.connect(":memory:")
    try:
        connection.execute(features_table_sql())
        load_features(connection, rows)
        relation = engine.decide_table(connection)
        names = relation.columns
        return [
            engine.decision(dict(zip(names, values, strict=True))) for values in relation.fetchall()
        ]
    finally:
        connection.close()
