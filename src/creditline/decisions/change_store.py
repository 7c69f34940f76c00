"""Impact simulations and the changes they announce: what a simulation found, each line's
pending change with its own effective date, and what became of it when it came due.

Every table is append-only: a pending change's fate is its outcome row. Approval copies a
simulation's affected lines into pending changes and selects their notices for the outbox,
set-based (two INSERT … SELECT statements, whatever the number of borrowers).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, func, insert, literal, null, select

from creditline.db.portable import one_of
from creditline.decisions.lifecycle import DECIDING_STATES, PENDING_STATES, Impact
from creditline.decisions.policy_store import latest_steps
from creditline.decisions.tables import (
    policy_change_outcomes,
    policy_changes,
    policy_simulation_lines,
    policy_simulations,
)
from creditline.kernel.ids import new_id

ROWS_PER_INSERT_MAX = 5_000  # a statement binds at most 65,535 parameters on PostgreSQL
WITHDRAWN = "withdrawn"  # the outcome of a change whose version was retired before it came due


def insert_simulation(
    connection: Connection,
    label: tuple[str, str],
    against: str,
    actor: str,
    at: datetime,
    counts: tuple[int, int, int],
    summary: dict[str, Any],
    chart: dict[str, Any],
) -> str:
    """Store a simulation (`counts`: lines, adversely affected, closed); its id."""
    simulation_id = new_id()
    connection.execute(
        insert(policy_simulations).values(
            id=simulation_id,
            policy_id=label[0],
            version=label[1],
            against=against,
            actor=actor,
            at=at,
            lines_total=counts[0],
            adverse_count=counts[1],
            close_count=counts[2],
            summary=json.dumps(summary, ensure_ascii=False),
            chart=json.dumps(chart, ensure_ascii=False),
        )
    )
    return simulation_id


def insert_simulation_lines(
    connection: Connection, simulation_id: str, rows: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """The affected lines of a simulation: (line id, borrower id, projected change)."""
    for start in range(0, len(rows), ROWS_PER_INSERT_MAX):
        connection.execute(
            insert(policy_simulation_lines),
            [
                {
                    "simulation_id": simulation_id,
                    "line_id": line_id,
                    "change_id": new_id(),
                    "notice_id": new_id(),
                    "borrower_id": borrower_id,
                    "change": json.dumps(change, ensure_ascii=False, sort_keys=True),
                }
                for line_id, borrower_id, change in rows[start : start + ROWS_PER_INSERT_MAX]
            ],
        )


def simulated_lines(connection: Connection, simulation_id: str) -> list[Any]:
    """The lines a simulation found adversely affected, each with its projected change."""
    query = (
        select(policy_simulation_lines)
        .where(policy_simulation_lines.c.simulation_id == simulation_id)
        .order_by(policy_simulation_lines.c.line_id)
    )
    return list(connection.execute(query).mappings())


def latest_simulation(connection: Connection, label: tuple[str, str]) -> Any:
    """The version's latest simulation row, if any."""
    query = (
        select(policy_simulations)
        .where(policy_simulations.c.policy_id == label[0], policy_simulations.c.version == label[1])
        .order_by(policy_simulations.c.id.desc())
        .limit(1)
    )
    return connection.execute(query).mappings().first()


def impact_of(row: Any) -> Impact:
    """What approval weighs of a simulation row."""
    return Impact(
        row["id"], row["at"], row["lines_total"], row["adverse_count"], row["close_count"]
    )


def announce(
    connection: Connection,
    label: tuple[str, str],
    simulation_id: str,
    announced_at: datetime,
    effective_at: datetime,
) -> Any:
    """Copy a simulation's affected lines into pending changes, set-based; the statement that
    selects each change's notice (id, line, borrower, ref, payload) for the outbox."""
    lines = policy_simulation_lines
    connection.execute(
        insert(policy_changes).from_select(
            [
                "id",
                "policy_id",
                "version",
                "line_id",
                "borrower_id",
                "change",
                "announced_at",
                "effective_at",
                "notice_id",
            ],
            select(
                lines.c.change_id,
                literal(label[0]),
                literal(label[1]),
                lines.c.line_id,
                lines.c.borrower_id,
                lines.c.change,
                literal(announced_at, policy_changes.c.announced_at.type),
                literal(effective_at, policy_changes.c.effective_at.type),
                lines.c.notice_id,
            ).where(lines.c.simulation_id == simulation_id),
        )
    )
    # Their notices straight from the simulation's lines, which hold all the changes were
    # copied from (a join to the changes just written took a third of the statement's time).
    head = _head(label, announced_at, effective_at)
    return select(lines.c.notice_id.label("id"), *_notice(head, lines, lines.c.change_id)).where(
        lines.c.simulation_id == simulation_id
    )


def withdrawals(
    label: tuple[str, str], announced_at: datetime, effective_at: datetime, withdrawn_at: datetime
) -> Any:
    """The notices that withdraw a version's changes still pending (all announced together at
    its approval), one to each borrower told of one, as the outbox's bulk queue takes them
    (their ids made by the statement); `record_withdrawn` then closes the changes."""
    head = {**_head(label, announced_at, effective_at), "withdrawn_at": withdrawn_at.isoformat()}
    return select(*_notice(head, policy_changes, policy_changes.c.id)).where(_pending_of(label))


def record_withdrawn(connection: Connection, label: tuple[str, str], at: datetime) -> None:
    """The outcome `withdrawn` for every change of the version still pending, set-based."""
    connection.execute(
        insert(policy_change_outcomes).from_select(
            ["change_id", "outcome", "decision_id", "at"],
            select(
                policy_changes.c.id,
                literal(WITHDRAWN),
                null(),
                literal(at, policy_change_outcomes.c.at.type),
            ).where(_pending_of(label)),
        )
    )


def _head(label: tuple[str, str], announced_at: datetime, effective_at: datetime) -> dict[str, str]:
    return {
        "policy": f"{label[0]}@{label[1]}",
        "announced_at": announced_at.isoformat(),
        "effective_at": effective_at.isoformat(),
    }


def _notice(head: dict[str, str], source: Any, change_id: Any) -> list[Any]:
    """A change's notice as the outbox's bulk queue takes it, from a table of changes: line,
    borrower, the change as the ref, and the payload: JSON made by concatenation around the
    change, which is JSON already."""
    prefix = json.dumps(head, sort_keys=True)[:-1] + ', "policy_change": '
    payload = literal(prefix) + source.c.change + literal("}")
    return [
        source.c.line_id,
        source.c.borrower_id,
        change_id.label("ref_id"),
        payload.label("payload"),
    ]


def _pending_of(label: tuple[str, str]) -> Any:
    return and_(
        policy_changes.c.policy_id == label[0],
        policy_changes.c.version == label[1],
        ~exists().where(policy_change_outcomes.c.change_id == policy_changes.c.id),
    )


def pending_of_line(connection: Connection, line_id: str) -> list[Any]:
    """The line's changes announced by versions still to take effect, active or deciding a
    challenger's cell, with no outcome yet, soonest first."""
    latest = latest_steps()
    live = [s.value for s in (*PENDING_STATES, *DECIDING_STATES)]
    query = (
        select(policy_changes)
        .join(
            latest,
            and_(
                latest.c.policy_id == policy_changes.c.policy_id,
                latest.c.version == policy_changes.c.version,
            ),
        )
        .where(
            policy_changes.c.line_id == line_id,
            latest.c.state.in_(live),
            ~exists().where(policy_change_outcomes.c.change_id == policy_changes.c.id),
        )
        .order_by(policy_changes.c.effective_at)
    )
    return list(connection.execute(query).mappings())


def pending_of_version(
    connection: Connection, label: tuple[str, str], due_by: datetime | None = None
) -> list[Any]:
    """A version's changes with no outcome yet (only those due by `due_by`, when given)."""
    query = select(policy_changes).where(_pending_of(label))
    if due_by is not None:
        query = query.where(policy_changes.c.effective_at <= due_by)
    return list(connection.execute(query.order_by(policy_changes.c.line_id)).mappings())


def pending_first(
    connection: Connection, label: tuple[str, str], limit: int
) -> tuple[int, list[Any]]:
    """How many of a version's changes have no outcome yet, and the soonest `limit` of them."""
    of_version = _pending_of(label)
    count = connection.execute(select(func.count()).where(of_version)).scalar_one()
    first = select(policy_changes).where(of_version)
    ordered = first.order_by(policy_changes.c.effective_at, policy_changes.c.line_id).limit(limit)
    return int(count), list(connection.execute(ordered).mappings())


def record_outcome(
    connection: Connection, change_id: str, outcome: str, decision_id: str | None, at: datetime
) -> None:
    """What became of a pending change."""
    connection.execute(
        insert(policy_change_outcomes).values(
            change_id=change_id, outcome=outcome, decision_id=decision_id, at=at
        )
    )


def insert_change(
    connection: Connection,
    ids: tuple[str, str],
    label: tuple[str, str],
    line: tuple[str, str],
    change: dict[str, Any],
    times: tuple[datetime, datetime],
) -> None:
    """A pending change for one line (a borrower newly affected, or affected more than they
    were told): `ids` are the change's and its notice's, `line` the line's and its borrower's,
    `times` when it was announced and when it takes effect."""
    connection.execute(
        insert(policy_changes).values(
            id=ids[0],
            policy_id=label[0],
            version=label[1],
            line_id=line[0],
            borrower_id=line[1],
            change=json.dumps(change, ensure_ascii=False, sort_keys=True),
            announced_at=times[0],
            effective_at=times[1],
            notice_id=ids[1],
        )
    )


def awaiting_notice() -> Any:
    """The change a version announced for a line that has not yet taken effect (parameters
    `line_id`, `policy_id`, `version`, `now`): a review holds the version's cut until then."""
    return select(policy_changes.c.change).where(
        policy_changes.c.line_id == bindparam("line_id"),
        policy_changes.c.policy_id == bindparam("policy_id"),
        policy_changes.c.version == bindparam("version"),
        policy_changes.c.effective_at > bindparam("now"),
        ~exists().where(policy_change_outcomes.c.change_id == policy_changes.c.id),
    )


def awaiting_notice_many() -> Any:
    """`awaiting_notice` for many lines at once (parameter `line_ids`, a list bound as one,
    with `policy_id`, `version`, `now`): each line's announced change, with its line id."""
    return select(policy_changes.c.line_id, policy_changes.c.change).where(
        one_of(policy_changes.c.line_id, bindparam("line_ids")),
        policy_changes.c.policy_id == bindparam("policy_id"),
        policy_changes.c.version == bindparam("version"),
        policy_changes.c.effective_at > bindparam("now"),
        ~exists().where(policy_change_outcomes.c.change_id == policy_changes.c.id),
    )
