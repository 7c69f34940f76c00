"""The decisions table's statements: decisions recorded with their changes, and read back."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import bindparam, insert, select

from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.actors import Actor
from creditline.kernel.canonical import CanonicalObject
from creditline.kernel.ids import is_id
from creditline.kernel.invariant import fail
from creditline.ledger.model import Action, LineStatus
from creditline.ledger.records import DecisionRecord, StoredDecision
from creditline.ledger.tables import decisions


class DecisionStore:
    """Prepared statements for one database; methods take the transaction to run in."""

    def __init__(self, db: Database) -> None:
        p = db.prepare
        self._decision_insert = p(
            insert(decisions).values({c.name: bindparam(c.name) for c in decisions.c})
        )
        by_newest = decisions.c.id.desc()
        self._decision = p(select(decisions).where(decisions.c.id == bindparam("id")))
        self._decisions_of_line = p(
            select(decisions)
            .where(decisions.c.line_id == bindparam("line_id"))
            .order_by(by_newest)
            .limit(bindparam("limit"))
        )
        self._decision_reasons = p(
            select(decisions.c.reason_codes).where(decisions.c.id == bindparam("id"))
        )
        self._scheduled_close = p(
            select(decisions)
            .where(
                decisions.c.line_id == bindparam("line_id"),
                decisions.c.action == "close",
                decisions.c.effective_at.is_not(None),
            )
            .order_by(by_newest)
            .limit(1)
        )

    def insert(
        self,
        tx: Transaction,
        record: DecisionRecord,
        actor: Actor,
        evidence: CanonicalObject | None,
    ) -> None:
        """Record a decision with the actor who made it and what it saw."""
        tx.execute(
            self._decision_insert,
            {
                "id": record.id,
                "line_id": record.line_id,
                "action": record.action.value,
                "adverse": record.adverse,
                "limit_before_minor": record.limit_before_minor,
                "limit_after_minor": record.limit_after_minor,
                "status_before": record.status_before.value,
                "status_after": record.status_after.value,
                "until": tx.time(record.until),
                "reason_codes": json.dumps(list(record.reason_codes)),
                "actor_subject": actor.subject,
                "actor_role": actor.role.value,
                "policy_version": record.policy_version,
                "note": record.note,
                "created_at": tx.time(record.at),
                "evidence": None if evidence is None else evidence.text(),
                "effective_at": tx.time(record.effective_at),
            },
        )

    def get(self, tx: Transaction, decision_id: str, currency: str) -> StoredDecision | None:
        """A recorded decision about a line in `currency`, if there is one with that id."""
        if not is_id(decision_id):
            return None
        row = tx.one(self._decision, {"id": decision_id})
        return None if row is None else _stored_decision(row, currency)

    def of_line(
        self, tx: Transaction, line_id: str, currency: str, limit: int
    ) -> list[StoredDecision]:
        """The line's decisions, newest first (ids are time-ordered), at most `limit`."""
        params = {"line_id": line_id, "limit": limit}
        tx.cursor.execute(self._decisions_of_line.sql, self._decisions_of_line.bind(params))
        return [_stored_decision(tuple(row), currency) for row in tx.cursor.fetchall()]

    def scheduled_close(
        self, tx: Transaction, line_id: str, currency: str
    ) -> StoredDecision | None:
        """The line's latest close decided to take effect later, if any."""
        row = tx.one(self._scheduled_close, {"line_id": line_id})
        return None if row is None else _stored_decision(row, currency)

    def evidence_of(
        self, tx: Transaction, decision_ids: Collection[str]
    ) -> dict[str, dict[str, Any] | None]:
        """What each of the decisions `decision_ids` kept as evidence, by id (None: it kept
        none; an id that names no decision is left out), in one query (a read's Core query)."""
        wanted = [decision_id for decision_id in decision_ids if is_id(decision_id)]
        if not wanted:
            return {}
        query = select(decisions.c.id, decisions.c.evidence).where(decisions.c.id.in_(wanted))
        return {
            decision_id: None if evidence is None else json.loads(evidence)
            for decision_id, evidence in tx.connection.execute(query)
        }

    def line_of(self, tx: Transaction, decision_id: str) -> str | None:
        """The id of the line a decision is about."""
        if not is_id(decision_id):
            return None
        row = tx.one(self._decision, {"id": decision_id})
        return None if row is None else str(row[1])

    def reasons(self, tx: Transaction, decision_id: str) -> list[str]:
        """The reason codes of a recorded decision."""
        row = tx.one(self._decision_reasons, {"id": decision_id})
        return [] if row is None else list(json.loads(row[0]))


def _stored_decision(row: tuple[Any, ...], currency: str) -> StoredDecision:
    """A `decisions` row (its columns in table order) as a typed record."""
    at = Transaction.read_time(row[14]) or fail(f"decision {row[0]} has no time")
    record = DecisionRecord(
        id=row[0],
        line_id=row[1],
        currency=currency,
        action=Action(row[2]),
        adverse=bool(row[3]),
        limit_before_minor=row[4],
        limit_after_minor=row[5],
        status_before=LineStatus(row[6]),
        status_after=LineStatus(row[7]),
        until=Transaction.read_time(row[8]),
        reason_codes=tuple(json.loads(row[9])),
        actor_scope=f"{row[11]}:{row[10]}",
        policy_version=row[12],
        note=row[13],
        at=at,
        effective_at=Transaction.read_time(row[16]),
    )
    return StoredDecision(record, None if row[15] is None else json.loads(row[15]))
