"""What the ledger knows about lines that a review decides on, read set-based in one query.

Published through `ledger.ports`: the decisions capability reads these facts, never the
ledger's tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select

from creditline.db.unit_of_work import Transaction
from creditline.kernel.invariant import fail
from creditline.ledger.tables import decisions, drawdowns, journal, lines

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class LineFacts:
    """A line's balances, its recent drawdowns and when its limit last changed and was cut."""

    line_id: str
    borrower_id: str
    limit_minor: int
    used_minor: int  # principal outstanding and held
    opened_at: datetime
    drawdowns_7d: int
    drawdowns_30d: int
    drawdowns_90d: int
    limit_changed_at: datetime  # opening the line set its first limit: it counts as a change
    cut_at: datetime | None


def line_facts(
    connection: Connection,
    now: datetime,
    line_ids: list[str] | None = None,
    currency: str | None = None,
) -> list[LineFacts]:
    """The facts of every line that is not closed (only `line_ids`, or lines in `currency`,
    when given), by line id."""

    posted = _posted_drawdowns(now)
    changes = _limit_changes()
    query = (
        select(
            lines.c.id,
            lines.c.borrower_id,
            lines.c.limit_minor,
            lines.c.principal_outstanding_minor,
            lines.c.held_minor,
            lines.c.created_at,
            posted.c.posted_7d,
            posted.c.posted_30d,
            posted.c.posted_90d,
            changes.c.changed,
            changes.c.cut,
        )
        .select_from(
            lines.outerjoin(posted, posted.c.line_id == lines.c.id).outerjoin(
                changes, changes.c.line_id == lines.c.id
            )
        )
        .where(lines.c.status != "closed")
        .order_by(lines.c.id)
    )
    if line_ids is not None:
        query = query.where(lines.c.id.in_(line_ids))
    if currency is not None:
        query = query.where(lines.c.currency == currency)
    # `all()` fetches the rows at once (iterating the result fetches them one at a time).
    return [_facts(row) for row in connection.execute(query).all()]


def _posted_drawdowns(now: datetime) -> Any:
    """Per line: drawdowns posted in the last 7, 30 and 90 days."""

    def posted_since(days: int) -> Any:
        return func.sum(case((drawdowns.c.resolved_at >= now - days * _DAY, 1), else_=0))

    return (
        select(
            drawdowns.c.line_id,
            posted_since(7).label("posted_7d"),
            posted_since(30).label("posted_30d"),
            posted_since(90).label("posted_90d"),
        )
        .where(drawdowns.c.status == "posted")
        .group_by(drawdowns.c.line_id)
        .subquery()
    )


def _limit_changes() -> Any:
    """Per line: when its limit last changed, and when it was last cut or frozen."""
    changed = decisions.c.action.in_(("increase", "decrease"))
    cut = decisions.c.action.in_(("decrease", "freeze"))
    return (
        select(
            decisions.c.line_id,
            func.max(case((changed, decisions.c.created_at))).label("changed"),
            func.max(case((cut, decisions.c.created_at))).label("cut"),
        )
        .group_by(decisions.c.line_id)
        .subquery()
    )


def _facts(row: Any) -> LineFacts:
    # Unpacked as a tuple: a row's attributes by name cost more than the rest of this (a
    # review reads every line of the book).
    line_id, borrower_id, limit, principal, held, created_at, p7, p30, p90, changed, cut = row
    opened = _aware(created_at)
    return LineFacts(
        line_id=line_id,
        borrower_id=borrower_id,
        limit_minor=limit,
        used_minor=principal + held,
        opened_at=opened,
        drawdowns_7d=p7 or 0,
        drawdowns_30d=p30 or 0,
        drawdowns_90d=p90 or 0,
        limit_changed_at=opened if changed is None else _aware(changed),
        cut_at=None if cut is None else _aware(cut),
    )


def _aware(value: Any) -> datetime:
    return Transaction.read_time(value) or fail("a stored time is missing")


def freezes_ending(
    connection: Connection, after: datetime, until: datetime, limit: int
) -> list[tuple[str, datetime, str | None]]:
    """Frozen lines whose freeze ends in (`after`, `until`]: line id, end, the freeze's
    decision."""
    rows = connection.execute(
        select(lines.c.id, lines.c.frozen_until, lines.c.status_decision_id)
        .where(
            lines.c.status == "frozen",
            lines.c.frozen_until > after,
            lines.c.frozen_until <= until,
        )
        .order_by(lines.c.frozen_until)
        .limit(limit)
    ).all()
    return [(row[0], _aware(row[1]), row[2]) for row in rows]


def first_open_lines(connection: Connection, borrower_ids: list[str]) -> dict[str, str]:
    """Each borrower's oldest line that is not closed."""
    rows = connection.execute(
        select(lines.c.borrower_id, lines.c.id)
        .where(lines.c.borrower_id.in_(borrower_ids), lines.c.status != "closed")
        .order_by(lines.c.id)
    ).all()
    first: dict[str, str] = {}
    for borrower, line_id in rows:
        first.setdefault(borrower, line_id)
    return first


# --- the ledger's side of the books, for the other capabilities' reconciliation checks ------
def line_principals(connection: Connection) -> dict[str, int]:
    """Each line's outstanding principal."""
    rows = connection.execute(select(lines.c.id, lines.c.principal_outstanding_minor))
    return {row[0]: row[1] for row in rows}


def journal_principal_by_loan(connection: Connection) -> dict[str, int]:
    """Per loan: the principal its journal entries net to (drawn less repaid)."""
    rows = connection.execute(
        select(journal.c.loan_id, func.sum(journal.c.principal_delta_minor))
        .where(journal.c.loan_id.is_not(None))
        .group_by(journal.c.loan_id)
    )
    return {row[0]: int(row[1]) for row in rows}


def journal_entries_by_loan(connection: Connection, kind: str) -> dict[str, int]:
    """Per loan: how many journal entries of `kind` name it."""
    rows = connection.execute(
        select(journal.c.loan_id, func.count())
        .where(journal.c.loan_id.is_not(None), journal.c.kind == kind)
        .group_by(journal.c.loan_id)
    )
    return {row[0]: int(row[1]) for row in rows}


def decision_lines(connection: Connection, actor_prefix: str | None = None) -> dict[str, str]:
    """Each recorded decision's line (only decisions whose actor starts with `actor_prefix`,
    when given)."""
    query = select(decisions.c.id, decisions.c.line_id)
    if actor_prefix is not None:
        query = query.where(decisions.c.actor_subject.startswith(actor_prefix, autoescape=True))
    return {row[0]: row[1] for row in connection.execute(query)}
