"""The ledger's statements, built once per database and run on the driver's cursor.

Every state change to a line is one relative UPDATE guarded by the version read under the row
lock and by the room check (`limit - principal - held >= 0` after the deltas), so a stale
writer can never overwrite a newer balance. Writes that must touch exactly one row say so with
`expect_one`: the row is locked and the model has checked the room, so a miss is a bug, and
the transaction fails before it commits (on PostgreSQL a hold's writes go as one statement
whose guard fails it instead: `ledger.statements`). Reads that open a command lock the line row
(`FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` already serialises writers).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import bindparam, or_, select, update

from creditline.db.portable import one_of
from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.ids import is_id
from creditline.kernel.invariant import invariant
from creditline.ledger.decision_store import DecisionStore
from creditline.ledger.journal import JournalEntry
from creditline.ledger.model import Line, LineStatus, Movement
from creditline.ledger.records import Drawdown
from creditline.ledger.request_store import RequestStore
from creditline.ledger.statements import (
    LINE_PART,
    MOVEMENT_GUARD,
    hold_parts,
    hold_statement,
    insert_all,
    relative_line_update,
)
from creditline.ledger.tables import drawdowns, journal, lines

_LINE_COLUMNS = (
    lines.c.id,
    lines.c.borrower_id,
    lines.c.currency,
    lines.c.limit_minor,
    lines.c.principal_outstanding_minor,
    lines.c.held_minor,
    lines.c.status,
    lines.c.frozen_until,
    lines.c.status_decision_id,
    lines.c.version,
    lines.c.head_hash,
    lines.c.closing_at,
)
_LINE_WIDTH = len(_LINE_COLUMNS)
_DRAWDOWN_COLUMNS = (
    drawdowns.c.id,
    drawdowns.c.line_id,
    drawdowns.c.amount_minor,
    drawdowns.c.term_months,
    drawdowns.c.status,
    drawdowns.c.expires_at,
    drawdowns.c.posted_minor,
    drawdowns.c.loan_id,
    drawdowns.c.product,
    drawdowns.c.method,
    drawdowns.c.created_at,
)


class LedgerStore:
    """Prepared statements for one database; methods take the transaction to run in."""

    def __init__(self, db: Database) -> None:
        p = db.prepare
        locked = select(*_LINE_COLUMNS).with_for_update()
        self._line_locked = p(locked.where(lines.c.id == bindparam("id")))
        self._lines_locked = p(
            # In id order, the order every writer of several lines takes them in.
            locked.where(one_of(lines.c.id, bindparam("ids"))).order_by(lines.c.id)
        )
        self._line_read = p(select(*_LINE_COLUMNS).where(lines.c.id == bindparam("id")))
        self._lines_of_borrower = p(
            select(*_LINE_COLUMNS)
            .where(lines.c.borrower_id == bindparam("borrower_id"))
            .order_by(lines.c.id)
            .limit(bindparam("limit"))
        )
        self._drawdown_locked = p(
            select(*_LINE_COLUMNS, *_DRAWDOWN_COLUMNS)
            .select_from(drawdowns.join(lines, lines.c.id == drawdowns.c.line_id))
            .where(drawdowns.c.id == bindparam("id"))
            # Lock both rows: under READ COMMITTED a joined row that is not locked would be
            # read as it was before the wait for the line's lock.
            .with_for_update(of=[lines, drawdowns])
        )
        self._line_move = p(relative_line_update())
        db.one_statement(hold_parts(), hold_statement(), (LINE_PART,), MOVEMENT_GUARD)
        self.decisions = DecisionStore(db)
        self.requests = RequestStore(db)
        self._line_insert = p(insert_all(lines))
        self._journal_insert = p(insert_all(journal))
        self._drawdown_insert = p(insert_all(drawdowns))
        self._drawdown_resolve = p(
            update(drawdowns)
            .where(drawdowns.c.id == bindparam("id"), drawdowns.c.status == "held")
            .values(
                status=bindparam("status"),
                resolved_at=bindparam("now"),
                posted_minor=bindparam("posted_minor"),
                loan_id=bindparam("loan_id"),
            )
        )
        self._expired_holds = p(
            select(drawdowns.c.id)
            .where(drawdowns.c.status == "held", drawdowns.c.expires_at <= bindparam("now"))
            .order_by(drawdowns.c.expires_at)
            .limit(bindparam("limit"))
        )
        self._ended_freezes = p(
            select(lines.c.id)
            .where(lines.c.status == "frozen", lines.c.frozen_until <= bindparam("now"))
            .order_by(lines.c.frozen_until)
            .limit(bindparam("limit"))
        )
        self._closes_due = p(
            select(lines.c.id)
            .where(lines.c.closing_at <= bindparam("now"))
            .order_by(lines.c.closing_at)
            .limit(bindparam("limit"))
        )
        self._journal_page = p(
            select(journal)
            .where(journal.c.line_id == bindparam("line_id"), journal.c.seq > bindparam("after"))
            .order_by(journal.c.seq)
            .limit(bindparam("limit"))
        )

    # --- lines ---------------------------------------------------------------------------
    @staticmethod
    def _line(row: tuple[Any, ...]) -> Line:
        return Line(
            id=row[0],
            borrower_id=row[1],
            currency=row[2],
            limit_minor=row[3],
            principal_minor=row[4],
            held_minor=row[5],
            status=LineStatus(row[6]),
            frozen_until=Transaction.read_time(row[7]),
            status_decision_id=row[8],
            version=row[9],
            head_hash=row[10],
            closing_at=Transaction.read_time(row[11]),
        )

    def lock_line(self, tx: Transaction, line_id: str) -> Line | None:
        """The line, its row locked (None for an unknown id)."""
        if not is_id(line_id):
            return None
        row = tx.one(self._line_locked, {"id": line_id})
        return None if row is None else self._line(row)

    def lock_lines(self, tx: Transaction, line_ids: list[str]) -> list[Line]:
        """The lines of `line_ids` that exist, their rows locked in id order, in one statement."""
        ids = sorted({line_id for line_id in line_ids if is_id(line_id)})
        if not ids:
            return []
        rows = tx.all(self._lines_locked, {"ids": tx.values(ids)})
        return [self._line(row) for row in rows]

    def read_line(self, tx: Transaction, line_id: str) -> Line | None:
        """The line, unlocked (None for an unknown id)."""
        if not is_id(line_id):
            return None
        row = tx.one(self._line_read, {"id": line_id})
        return None if row is None else self._line(row)

    def lines_of_borrower(self, tx: Transaction, borrower_id: str, limit: int) -> list[Line]:
        """The borrower's lines, oldest first (ids are time-ordered), at most `limit`."""
        tx.cursor.execute(
            self._lines_of_borrower.sql,
            self._lines_of_borrower.bind({"borrower_id": borrower_id, "limit": limit}),
        )
        return [self._line(tuple(row)) for row in tx.cursor.fetchall()]

    def search_lines(self, tx: Transaction, begins: str, limit: int) -> list[Line]:
        """Lines whose id, or whose borrower's id, begins with `begins`; newest first."""
        query = (
            select(*_LINE_COLUMNS)
            .where(
                or_(
                    lines.c.id.startswith(begins, autoescape=True),
                    lines.c.borrower_id.startswith(begins, autoescape=True),
                )
            )
            .order_by(lines.c.id.desc())
            .limit(limit)
        )
        return [self._line(tuple(row)) for row in tx.connection.execute(query)]

    def insert_line(self, tx: Transaction, line: Line, now: datetime) -> None:
        """Insert a new line."""
        tx.execute(
            self._line_insert,
            {
                "id": line.id,
                "borrower_id": line.borrower_id,
                "currency": line.currency,
                "limit_minor": line.limit_minor,
                "principal_outstanding_minor": line.principal_minor,
                "held_minor": line.held_minor,
                "status": line.status.value,
                "frozen_until": tx.time(line.frozen_until),
                "status_decision_id": line.status_decision_id,
                "version": line.version,
                "head_hash": line.head_hash,
                "closing_at": tx.time(line.closing_at),
                "created_at": tx.time(now),
                "updated_at": tx.time(now),
            },
        )

    def move_line(
        self, tx: Transaction, before: Line, after: Line, movement: Movement, entry: JournalEntry
    ) -> None:
        """Apply `movement` to the line as a relative update and append its journal entry."""
        tx.expect_one(
            f"line {before.id} moved under its lock (version {before.version})",
            self._line_move,
            {
                "id": before.id,
                "expected_version": before.version,
                "d_limit": movement.limit_delta,
                "d_principal": movement.principal_delta,
                "d_held": movement.held_delta,
                "status": after.status.value,
                "frozen_until": tx.time(after.frozen_until),
                "status_decision_id": after.status_decision_id,
                "closing_at": tx.time(after.closing_at),
                "head_hash": entry.hash,
                "now": tx.time(entry.created_at),
            },
        )
        self.append_journal(tx, entry)

    def append_journal(self, tx: Transaction, entry: JournalEntry) -> None:
        """Append one journal entry."""
        tx.execute(
            self._journal_insert,
            {
                "line_id": entry.line_id,
                "seq": entry.seq,
                "kind": entry.kind,
                "limit_delta_minor": entry.limit_delta_minor,
                "principal_delta_minor": entry.principal_delta_minor,
                "held_delta_minor": entry.held_delta_minor,
                "limit_after_minor": entry.limit_after_minor,
                "principal_after_minor": entry.principal_after_minor,
                "held_after_minor": entry.held_after_minor,
                "status_after": entry.status_after,
                "drawdown_id": entry.drawdown_id,
                "loan_id": entry.loan_id,
                "decision_id": entry.decision_id,
                "created_at": tx.time(entry.created_at),
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
            },
        )

    # --- drawdowns -----------------------------------------------------------------------
    def lock_drawdown(self, tx: Transaction, drawdown_id: str) -> tuple[Line, Drawdown] | None:
        """The drawdown and its line, both locked."""
        if not is_id(drawdown_id):
            return None
        row = tx.one(self._drawdown_locked, {"id": drawdown_id})
        if row is None:
            return None
        d = row[_LINE_WIDTH:]
        expires_at = Transaction.read_time(d[5])
        created_at = Transaction.read_time(d[10])
        invariant(expires_at is not None and created_at is not None, "a drawdown has its times")
        return self._line(row), Drawdown(
            id=d[0],
            line_id=d[1],
            amount_minor=d[2],
            term_months=d[3],
            status=d[4],
            expires_at=cast(datetime, expires_at),
            posted_minor=d[6],
            loan_id=d[7],
            product=d[8],
            method=d[9],
            created_at=cast(datetime, created_at),
        )

    def insert_drawdown(self, tx: Transaction, drawdown: Drawdown) -> None:
        """Insert a held drawdown."""
        tx.execute(
            self._drawdown_insert,
            {
                "id": drawdown.id,
                "line_id": drawdown.line_id,
                "amount_minor": drawdown.amount_minor,
                "term_months": drawdown.term_months,
                "status": drawdown.status,
                "expires_at": tx.time(drawdown.expires_at),
                "created_at": tx.time(drawdown.created_at),
                "resolved_at": None,
                "posted_minor": drawdown.posted_minor,
                "loan_id": drawdown.loan_id,
                "product": drawdown.product,
                "method": drawdown.method,
            },
        )

    def resolve_drawdown(
        self,
        tx: Transaction,
        drawdown_id: str,
        status: str,
        now: datetime,
        posted_minor: int | None = None,
        loan_id: str | None = None,
    ) -> None:
        """Mark a held drawdown posted, voided or expired (it must still be held)."""
        tx.expect_one(
            f"drawdown {drawdown_id} changed under its line's lock",
            self._drawdown_resolve,
            {
                "id": drawdown_id,
                "status": status,
                "now": tx.time(now),
                "posted_minor": posted_minor,
                "loan_id": loan_id,
            },
        )

    # --- the journal ---------------------------------------------------------------------
    def journal_page(
        self, tx: Transaction, line_id: str, after_seq: int, limit: int
    ) -> list[JournalEntry]:
        """Up to `limit` of the line's journal entries after `after_seq`, in order."""
        params = {"line_id": line_id, "after": after_seq, "limit": limit}
        tx.cursor.execute(self._journal_page.sql, self._journal_page.bind(params))
        entries = []
        for row in tx.cursor.fetchall():
            created_at = Transaction.read_time(row[13])
            invariant(created_at is not None, "a journal entry has its time")
            fields = (*row[:13], cast(datetime, created_at), *row[14:])
            entries.append(JournalEntry(*fields))
        return entries

    def expired_holds(self, tx: Transaction, now: datetime, limit: int) -> list[str]:
        """Ids of held drawdowns whose time ran out, oldest first."""
        params = {"now": tx.time(now), "limit": limit}
        tx.cursor.execute(self._expired_holds.sql, self._expired_holds.bind(params))
        return [row[0] for row in tx.cursor.fetchall()]

    def closes_due(self, tx: Transaction, now: datetime, limit: int) -> list[str]:
        """Ids of lines whose scheduled close has come, soonest first."""
        params = {"now": tx.time(now), "limit": limit}
        tx.cursor.execute(self._closes_due.sql, self._closes_due.bind(params))
        return [row[0] for row in tx.cursor.fetchall()]

    def ended_freezes(self, tx: Transaction, now: datetime, limit: int) -> list[str]:
        """Ids of frozen lines whose freeze has reached its end."""
        params = {"now": tx.time(now), "limit": limit}
        tx.cursor.execute(self._ended_freezes.sql, self._ended_freezes.bind(params))
        return [row[0] for row in tx.cursor.fetchall()]
