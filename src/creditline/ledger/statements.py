"""The ledger's writes as statements: the line's relative update, whole-row inserts, and the
hot shapes spelled out as one PostgreSQL statement each (docs/decisions/0030).

Every state change to a line is one relative UPDATE guarded by the version read under the row
lock and by the room check (`limit - principal - held >= 0` after the deltas), so a stale
writer can never overwrite a newer balance. On PostgreSQL a hold's five writes, and a
repayment's seven (`loans.store`), go as one statement of data-modifying CTEs; its guard fails
the statement when an update changed no row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select, true, update

from creditline.db.commands import key_insert
from creditline.ledger.tables import drawdowns, journal, lines
from creditline.notices.outbox import message_insert

# A movement's two writes in a one-statement shape (`Database.one_statement`), by the prefix of
# their bound names; the shape fails on its journal entry's line_id when the update missed.
LINE_PART = "line_"
ENTRY_PART = "entry_"
MOVEMENT_GUARD = ("journal", "line_id")


def relative_line_update(prefix: str = "") -> Any:
    """A line's movement as one relative UPDATE, guarded by the version read under the lock and
    by the room check; its bound names after `prefix`."""
    delta: dict[str, Any] = {n: bindparam(prefix + n) for n in ("d_limit", "d_principal", "d_held")}
    return (
        update(lines)
        .where(
            lines.c.id == bindparam(prefix + "id"),
            lines.c.version == bindparam(prefix + "expected_version"),
            # The room check, inside the UPDATE: the line can never go over its limit.
            (lines.c.limit_minor + delta["d_limit"])
            - (lines.c.principal_outstanding_minor + delta["d_principal"])
            - (lines.c.held_minor + delta["d_held"])
            >= 0,
        )
        .values(
            limit_minor=lines.c.limit_minor + delta["d_limit"],
            principal_outstanding_minor=lines.c.principal_outstanding_minor + delta["d_principal"],
            held_minor=lines.c.held_minor + delta["d_held"],
            status=bindparam(prefix + "status"),
            frozen_until=bindparam(prefix + "frozen_until"),
            status_decision_id=bindparam(prefix + "status_decision_id"),
            closing_at=bindparam(prefix + "closing_at"),
            version=lines.c.version + 1,
            head_hash=bindparam(prefix + "head_hash"),
            updated_at=bindparam(prefix + "now"),
        )
    )


def insert_all(table: Any, prefix: str = "") -> Any:
    """An INSERT of every column of `table`, its bound names the columns' after `prefix`."""
    return insert(table).values({c.name: bindparam(prefix + c.name) for c in table.c})


def movement_parts() -> list[tuple[str, Any]]:
    """A movement's writes as `LedgerStore.move_line` sends them, by prefix: the line's
    relative update (exactly one row), then its journal entry."""
    return [(LINE_PART, relative_line_update()), (ENTRY_PART, insert_all(journal))]


def movement_statement(*guarded: Any) -> Any:
    """A movement as one PostgreSQL statement: the journal entry's INSERT, the line's update a
    CTE whose RETURNING gives the entry its line_id. When the update, or any of the `guarded`
    update CTEs (each returning its one row), changed no row, that line_id is NULL and the
    statement fails: nothing of it, nor of the transaction, is kept."""
    moved = relative_line_update(LINE_PART).returning(lines.c.id).cte("moved_line")
    rows = moved
    for cte in guarded:
        rows = rows.join(cte, true())
    line_id = (
        select(moved.c.id).select_from(rows).where(moved.c.id == bindparam(ENTRY_PART + "line_id"))
    )
    return insert_all(journal, ENTRY_PART).values(line_id=line_id.scalar_subquery())


def hold_parts() -> list[tuple[str, Any]]:
    """A hold's five writes as it sends them: the drawdown, the line's move and its journal
    entry, the outbox message, the command's idempotency key."""
    parts = [("drawdown_", insert_all(drawdowns)), *movement_parts()]
    return [*parts, ("message_", message_insert()), ("key_", key_insert())]


def hold_statement() -> Any:
    """A hold's writes (`hold_parts`) as one statement."""
    return movement_statement().add_cte(
        insert_all(drawdowns, "drawdown_").cte("held_drawdown"),
        message_insert("message_").cte("queued_message"),
        key_insert("key_").cte("stored_key"),
    )
