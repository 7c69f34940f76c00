"""The statements of shadow decisions and experiments: what a shadow would have decided,
experiments, their events and their decisions. Every table is append-only (triggers): an
experiment runs until its `stopped` event. Functions take a Core connection (a command's
`tx.connection`, or a read's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, select

from creditline.decisions.cells import Cell, CellFigures
from creditline.decisions.tables import (
    policy_change_outcomes,
    policy_changes,
    policy_experiment_decisions,
    policy_experiment_events,
    policy_experiments,
    policy_shadow_decisions,
)
from creditline.kernel.ids import new_id

decisions = policy_experiment_decisions
events = policy_experiment_events
ROWS_PER_INSERT_MAX = 2_000  # a statement binds at most 65,535 parameters on PostgreSQL


def insert_shadow(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """What shadows would have decided (rows of `policy_shadow_decisions` without ids)."""
    for start in range(0, len(rows), ROWS_PER_INSERT_MAX):
        batch = rows[start : start + ROWS_PER_INSERT_MAX]
        connection.execute(insert(policy_shadow_decisions), [{"id": new_id(), **r} for r in batch])


def shadow_rows(connection: Connection, label: tuple[str, str]) -> Iterator[Any]:
    """A shadow version's decisions, oldest first."""
    query = (
        select(policy_shadow_decisions)
        .where(
            policy_shadow_decisions.c.policy_id == label[0],
            policy_shadow_decisions.c.version == label[1],
        )
        .order_by(policy_shadow_decisions.c.id)
    )
    yield from connection.execute(query).mappings()


def insert_experiment(connection: Connection, row: dict[str, Any]) -> None:
    """An experiment (every column of `policy_experiments`)."""
    connection.execute(insert(policy_experiments).values(**row))


def insert_event(
    connection: Connection,
    experiment_id: str,
    event: str,
    actor: str,
    at: datetime,
    justification: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """An experiment's start or stop, with who, when and why."""
    connection.execute(
        insert(events).values(
            id=new_id(),
            experiment_id=experiment_id,
            event=event,
            actor=actor,
            at=at,
            justification=justification,
            details=None if details is None else json.dumps(details, ensure_ascii=False),
        )
    )


def experiment(connection: Connection, experiment_id: str) -> Any:
    """The experiment's row, if there is one."""
    query = select(policy_experiments).where(policy_experiments.c.id == experiment_id)
    return connection.execute(query).mappings().first()


def events_of(connection: Connection, experiment_id: str) -> list[Any]:
    """The experiment's events, oldest first."""
    query = select(events).where(events.c.experiment_id == experiment_id).order_by(events.c.id)
    return list(connection.execute(query).mappings())


def _stopped() -> Any:
    return (
        select(events.c.id)
        .where(events.c.experiment_id == policy_experiments.c.id, events.c.event == "stopped")
        .exists()
    )


def running(connection: Connection, currency: str) -> Any:
    """The experiment running on `currency`'s lines, if one is."""
    query = (
        select(policy_experiments)
        .where(policy_experiments.c.currency == currency, ~_stopped())
        .order_by(policy_experiments.c.id.desc())
        .limit(1)
    )
    return connection.execute(query).mappings().first()


def is_running(connection: Connection, experiment_id: str) -> bool:
    """Whether the experiment has no `stopped` event."""
    query = select(policy_experiments.c.id).where(
        policy_experiments.c.id == experiment_id, ~_stopped()
    )
    return connection.execute(query).first() is not None


def experiments(connection: Connection) -> list[Any]:
    """Every experiment with whether it runs, newest first."""
    query = select(policy_experiments, (~_stopped()).label("running")).order_by(
        policy_experiments.c.id.desc()
    )
    return list(connection.execute(query).mappings())


def insert_decisions(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Decisions made while an experiment runs (rows without ids)."""
    for start in range(0, len(rows), ROWS_PER_INSERT_MAX):
        batch = rows[start : start + ROWS_PER_INSERT_MAX]
        connection.execute(insert(decisions), [{"id": new_id(), **r} for r in batch])


def figures(connection: Connection, experiment_id: str, cell: Cell) -> CellFigures:
    """A cell's decisions and adverse ones, and the limits of its lines before their first
    decision in the experiment and after their latest."""
    mine = and_(decisions.c.experiment_id == experiment_id, decisions.c.cell == cell.value)
    adverse = func.sum(case((decisions.c.adverse, 1), else_=0))
    counted = connection.execute(select(func.count(), adverse).where(mine)).one()
    ends = (
        select(
            func.min(decisions.c.id).label("first_id"), func.max(decisions.c.id).label("last_id")
        )
        .where(mine)
        .group_by(decisions.c.line_id)
        .subquery()
    )
    first, last = decisions.alias("first"), decisions.alias("last")
    limits = connection.execute(
        select(func.sum(first.c.limit_before_minor), func.sum(last.c.limit_after_minor))
        .select_from(ends)
        .join(first, first.c.id == ends.c.first_id)
        .join(last, last.c.id == ends.c.last_id)
    ).one()
    return CellFigures(
        int(counted[0]), int(counted[1] or 0), int(limits[0] or 0), int(limits[1] or 0)
    )


def line_limits(connection: Connection, experiment_id: str, line_id: str) -> tuple[int, int] | None:
    """The line's limit before its first decision in the experiment and after its latest."""
    mine = and_(decisions.c.experiment_id == experiment_id, decisions.c.line_id == line_id)
    first = connection.execute(
        select(decisions.c.limit_before_minor).where(mine).order_by(decisions.c.id).limit(1)
    ).scalar()
    if first is None:
        return None
    last = connection.execute(
        select(decisions.c.limit_after_minor).where(mine).order_by(decisions.c.id.desc()).limit(1)
    ).scalar_one()
    return int(first), int(last)


def decisions_of(connection: Connection, experiment_id: str, cell: Cell, limit: int) -> list[Any]:
    """A cell's decisions, newest first, at most `limit`."""
    query = (
        select(decisions)
        .where(decisions.c.experiment_id == experiment_id, decisions.c.cell == cell.value)
        .order_by(decisions.c.id.desc())
        .limit(limit)
    )
    return list(connection.execute(query).mappings())


def counts_of(
    connection: Connection, experiment_id: str, cell: Cell, column: Any
) -> dict[str, int]:
    """A cell's decisions counted by `column` (action, outcome)."""
    query = (
        select(column, func.count())
        .where(decisions.c.experiment_id == experiment_id, decisions.c.cell == cell.value)
        .group_by(column)
        .order_by(column)
    )
    return {str(value): int(count) for value, count in connection.execute(query)}


def lines_of(connection: Connection, experiment_id: str, cell: Cell) -> int:
    """How many lines of a cell have been decided."""
    query = select(func.count(func.distinct(decisions.c.line_id))).where(
        decisions.c.experiment_id == experiment_id, decisions.c.cell == cell.value
    )
    return int(connection.execute(query).scalar_one())


def announced(connection: Connection, line_id: str, label: str) -> Any:
    """The latest change `label` announced for the line (due or not, with an outcome or
    not), with its outcome, if it announced one."""
    policy_id, _, version = label.partition("@")
    query = (
        select(policy_changes, policy_change_outcomes.c.outcome)
        .outerjoin(
            policy_change_outcomes, policy_change_outcomes.c.change_id == policy_changes.c.id
        )
        .where(
            policy_changes.c.line_id == line_id,
            policy_changes.c.policy_id == policy_id,
            policy_changes.c.version == version,
        )
        .order_by(policy_changes.c.effective_at.desc())
        .limit(1)
    )
    return connection.execute(query).mappings().first()
