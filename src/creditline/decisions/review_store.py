"""The reviews table's statements: reviews asked for, human reviews and their decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.tables import reviews

COLUMNS = tuple(reviews.c)


class ReviewStore:
    """Prepared statements for one database; methods take the transaction to run in."""

    def __init__(self, db: Database) -> None:
        self._insert = db.prepare(
            insert(reviews).values({c.name: bindparam(c.name) for c in reviews.c})
        )
        self._review = db.prepare(select(*COLUMNS).where(reviews.c.id == bindparam("id")))
        self._review_locked = db.prepare(
            select(*COLUMNS).where(reviews.c.id == bindparam("id")).with_for_update()
        )
        self._open_of_line = db.prepare(
            select(*COLUMNS).where(
                reviews.c.line_id == bindparam("line_id"),
                reviews.c.kind == "human",
                reviews.c.outcome == "open",
            )
        )
        self._automatic_done = db.prepare(
            update(reviews)
            .where(reviews.c.id == bindparam("id"))
            .values(outcome=bindparam("outcome"), decision_id=bindparam("decision_id"))
        )
        self._decide = db.prepare(
            update(reviews)
            .where(reviews.c.id == bindparam("id"), reviews.c.outcome == "open")
            .values(
                outcome=bindparam("outcome"),
                decided_by=bindparam("decided_by"),
                decided_at=bindparam("decided_at"),
                note=bindparam("note"),
                decision_id=bindparam("decision_id"),
            )
        )

    def insert(self, tx: Transaction, row: dict[str, Any]) -> None:
        """Insert a review row (every column named)."""
        tx.execute(self._insert, row)

    def get(self, tx: Transaction, review_id: str, *, locked: bool = False) -> Any:
        """The review's row (its values in `COLUMNS` order), locked when asked."""
        return tx.one(self._review_locked if locked else self._review, {"id": review_id})

    def open_of_line(self, tx: Transaction, line_id: str) -> Any:
        """The line's open human review's row, if it has one."""
        return tx.one(self._open_of_line, {"line_id": line_id})

    def automatic_done(
        self, tx: Transaction, review_id: str, outcome: str, decision_id: str | None
    ) -> None:
        """Record what an automatic review did, and the decision it made."""
        params = {"id": review_id, "outcome": outcome, "decision_id": decision_id}
        tx.execute(self._automatic_done, params)

    def decided(
        self,
        tx: Transaction,
        review_id: str,
        outcome: str,
        decided_by: str,
        now: datetime,
        note: str | None,
        decision_id: str | None,
    ) -> None:
        """Record a human review's outcome; the review must still be open (it is locked)."""
        tx.expect_one(
            f"review {review_id} changed under its lock",
            self._decide,
            {
                "id": review_id,
                "outcome": outcome,
                "decided_by": decided_by,
                "decided_at": tx.time(now),
                "note": note,
                "decision_id": decision_id,
            },
        )

    @staticmethod
    def of_line(connection: Connection, line_id: str, limit: int) -> list[Any]:
        """The line's reviews, automatic and human, newest first."""
        query = select(reviews).where(reviews.c.line_id == line_id)
        ordered = query.order_by(reviews.c.created_at.desc(), reviews.c.id.desc()).limit(limit)
        return list(connection.execute(ordered).mappings())

    @staticmethod
    def queue(connection: Connection, status: str, limit: int) -> list[Any]:
        """Human reviews open (or decided), by deadline."""
        query = select(reviews).where(reviews.c.kind == "human")
        query = (
            query.where(reviews.c.outcome == "open")
            if status == "open"
            else query.where(reviews.c.outcome != "open")
        )
        ordered = query.order_by(reviews.c.due_at, reviews.c.id).limit(limit)
        return list(connection.execute(ordered).mappings())
