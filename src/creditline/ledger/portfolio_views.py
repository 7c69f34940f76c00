"""The ledger's reads for portfolio reports: Core queries over its own tables, as of a time.

Each returns a selectable that the portfolio room joins with the other capabilities' (by line
id) into one set-based query per figure; it runs on SQLite, on PostgreSQL and on DuckDB
(`db/duckdb_book.py`) alike. The state of a line at a time is its last journal entry before
then: the journal keeps each entry's limit, principal, held amount and status after it.
`SOURCES` are the columns those queries read, which a copy of the book in DuckDB holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, and_, case, cast, func, literal, or_, select, union_all

from creditline.db.portable import json_member
from creditline.ledger.tables import decisions, journal, lines

REASON_CODES_MAX = 4  # a decision names 1–4 reasons (DESIGN.md §1)

# What a copy of the book needs of the ledger's tables, by table.
SOURCES: dict[str, Select[Any]] = {
    "lines": select(lines.c.id, lines.c.borrower_id, lines.c.currency, lines.c.created_at),
    "journal": select(
        journal.c.line_id,
        journal.c.seq,
        journal.c.kind,
        journal.c.limit_after_minor,
        journal.c.principal_after_minor,
        journal.c.held_after_minor,
        journal.c.status_after,
        journal.c.drawdown_id,
        journal.c.decision_id,
        journal.c.created_at,
    ),
    "decisions": select(
        decisions.c.id,
        decisions.c.line_id,
        decisions.c.action,
        decisions.c.reason_codes,
        decisions.c.evidence,
        decisions.c.created_at,
    ),
}


def _available_after() -> Any:
    """What a journal entry left the borrower to draw: nothing while drawing is blocked."""
    j = journal.c
    return case(
        (
            j.status_after == "active",
            j.limit_after_minor - j.principal_after_minor - j.held_after_minor,
        ),
        else_=0,
    )


def currency_lines(currency: str) -> Any:
    """The lines in `currency`: line_id."""
    return (
        select(lines.c.id.label("line_id"))
        .where(lines.c.currency == currency)
        .subquery("currency_lines")
    )


def line_positions(before: datetime, currency: str) -> Any:
    """Every line in `currency` opened before `before`, as its last journal entry then left
    it: line_id, limit_minor, principal_minor, held_minor, status, available_minor."""
    j = journal.c
    entries = (
        select(
            j.line_id,
            j.limit_after_minor,
            j.principal_after_minor,
            j.held_after_minor,
            j.status_after,
            _available_after().label("available_after"),
            func.row_number().over(partition_by=j.line_id, order_by=j.seq.desc()).label("latest"),
        )
        .where(j.created_at < before)
        .subquery("entries_before")
    )
    e = entries.c
    return (
        select(
            e.line_id,
            e.limit_after_minor.label("limit_minor"),
            e.principal_after_minor.label("principal_minor"),
            e.held_after_minor.label("held_minor"),
            e.status_after.label("status"),
            e.available_after.label("available_minor"),
        )
        .select_from(entries.join(lines, lines.c.id == e.line_id))
        .where(e.latest == 1, lines.c.currency == currency)
        .subquery("line_positions")
    )


def zero_available_causes(before: datetime, among: Any = None) -> Any:
    """Per line (of the subquery `among`'s line_id, when given), the last journal entry before
    `before` that took what the borrower could draw to zero: line_id, kind, decision_id,
    drawdown_id, at."""
    j = journal.c
    lines_read = [] if among is None else [j.line_id.in_(select(among.c.line_id))]
    entries = (
        select(
            j.line_id,
            j.seq,
            j.kind,
            j.decision_id,
            j.drawdown_id,
            j.created_at,
            _available_after().label("available"),
            func.lag(_available_after())
            .over(partition_by=j.line_id, order_by=j.seq)
            .label("available_before"),
        )
        .where(j.created_at < before, *lines_read)
        .subquery("entries")
    )
    e = entries.c
    went_to_zero = and_(e.available == 0, or_(e.available_before.is_(None), e.available_before > 0))
    last = (
        select(e.line_id, func.max(e.seq).label("seq"))
        .where(went_to_zero)
        .group_by(e.line_id)
        .subquery("last_to_zero")
    )
    return (
        select(e.line_id, e.kind, e.decision_id, e.drawdown_id, e.created_at.label("at"))
        .select_from(entries.join(last, and_(last.c.line_id == e.line_id, last.c.seq == e.seq)))
        .subquery("zero_causes")
    )


def line_lifetimes() -> Any:
    """Per line: opened_at (its first journal entry is written with it), and closed_at (its
    first entry that closed it; null while open)."""
    j = journal.c
    closed = (
        select(j.line_id, func.min(j.created_at).label("closed_at"))
        .where(j.status_after == "closed")
        .group_by(j.line_id)
        .subquery("closed_lines")
    )
    return (
        select(
            lines.c.id.label("line_id"), lines.c.created_at.label("opened_at"), closed.c.closed_at
        )
        .select_from(lines.outerjoin(closed, closed.c.line_id == lines.c.id))
        .subquery("line_lifetimes")
    )


def decision_reasons(start: datetime, end: datetime) -> Any:
    """Each limit decision made in [start, end) once per reason code it names: decision_id,
    line_id, action, at, reason_code."""
    d = decisions.c
    per_position = [
        select(
            d.id.label("decision_id"),
            d.line_id,
            d.action,
            d.created_at.label("at"),
            json_member(d.reason_codes, position).label("reason_code"),
        ).where(d.created_at >= start, d.created_at < end)
        for position in range(REASON_CODES_MAX)
    ]
    every = union_all(*per_position).subquery("reasons_named")
    return select(every).where(every.c.reason_code.is_not(None)).subquery("decision_reasons")


def decisions_made(start: datetime, end: datetime) -> Any:
    """The decisions made in [start, end): decision_id, line_id, action, at."""
    d = decisions.c
    return (
        select(d.id.label("decision_id"), d.line_id, d.action, d.created_at.label("at"))
        .where(d.created_at >= start, d.created_at < end)
        .subquery("decisions_made")
    )


def decision_scores(before: datetime | None = None) -> Any:
    """Decisions made (before `before`, when given) by a scorecard: line_id, at, score,
    grade."""
    d = decisions.c
    score = cast(json_member(d.evidence, "score"), Integer)
    return (
        select(
            d.line_id,
            d.created_at.label("at"),
            score.label("score"),
            json_member(d.evidence, "grade").label("grade"),
        )
        .where(d.evidence.is_not(None), score.is_not(None))
        .where(*([] if before is None else [d.created_at < before]))
        .subquery("decision_scores")
    )


def active_entries(before: datetime) -> Any:
    """Journal entries before `before` that left their line active (able to draw): line_id,
    at."""
    j = journal.c
    return (
        select(j.line_id, j.created_at.label("at"))
        .where(j.created_at < before, j.status_after == literal("active"))
        .subquery("active_entries")
    )


def decision_evidence(since: datetime, before: datetime) -> Any:
    """Decisions made in [since, before) with evidence, but the first grant of a line (its
    application holds the same evidence): line_id, at, evidence (JSON text)."""
    d = decisions.c
    return (
        select(d.line_id, d.created_at.label("at"), d.evidence)
        .where(
            d.created_at >= since,
            d.created_at < before,
            d.evidence.is_not(None),
            d.limit_before_minor > 0,
        )
        .subquery("decision_evidence")
    )
