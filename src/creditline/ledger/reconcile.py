"""The reconciler: proves, for every line, that the books tell one consistent story.

The ledger's own checks (DESIGN.md §6):
- the line's balances equal the sum of its journal, its version equals the number of entries,
  and its head hash is the last entry's hash;
- the hash chain is intact: contiguous sequence numbers, each entry's balances-after follow
  from the previous ones, and every hash recomputes;
- held equals the live holds;
- every decision entry in the journal has its decision record;
- a line's status is the status its journal ends in, and a frozen, suspended or closed line
  points at a decision of its own that made it so (with the same end time for a freeze).
Each other capability checks its side against the ledger's facts (`Check`, wired in the
composition root): loans against the lines' principal and the journal, notices that every
decision and settlement was announced, decisions that every decided review and its decision
point at each other. All run on one consistent snapshot. Aggregates are set-based SQL; the
chain is streamed in order and verified in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, literal, or_, select

from creditline.db.unit_of_work import Database
from creditline.ledger.journal import GENESIS_HASH, JournalEntry, entry_fields, entry_hash
from creditline.ledger.model import Action
from creditline.ledger.tables import decisions, drawdowns, journal, lines
from creditline.notices.outbox import NOTICE_PREFIX, announced

STREAM_BATCH_ROWS = 5_000


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    line_id: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON for the command line."""
        return {"check": self.check, "line_id": self.line_id, "detail": self.detail}


# Another capability's side of the books, checked on the reconciler's snapshot.
Check = Callable[[Connection], Iterable[Finding]]


class Reconciler:
    def __init__(self, db: Database, checks: Sequence[Check] = ()) -> None:
        self._db = db
        self._checks = tuple(checks)

    def run(self, progress: Callable[[int], None] | None = None) -> list[Finding]:
        """Every finding on the whole book, from one consistent snapshot."""
        with self._db.reading() as connection:
            findings = [
                *self._snapshot_equals_journal(connection),
                *self._held_equals_live_holds(connection),
                *self._decisions_recorded(connection),
                *self._decisions_announced(connection),
                *(found for check in self._checks for found in check(connection)),
                *self._hash_chains(connection, progress),
            ]
        return findings

    def count_lines(self) -> int:
        """How many lines the book holds (for progress bars and `demo --if-empty`)."""
        with self._db.reading() as connection:
            return int(connection.execute(select(func.count()).select_from(lines)).scalar_one())

    @staticmethod
    def _snapshot_equals_journal(connection: Connection) -> Iterable[Finding]:
        sums = (
            select(
                journal.c.line_id,
                func.count().label("entries"),
                func.sum(journal.c.limit_delta_minor).label("limit_sum"),
                func.sum(journal.c.principal_delta_minor).label("principal_sum"),
                func.sum(journal.c.held_delta_minor).label("held_sum"),
                func.max(journal.c.seq).label("last_seq"),
            )
            .group_by(journal.c.line_id)
            .subquery()
        )
        last = journal.alias("last_entry")
        query = (
            select(lines, sums, last.c.hash.label("last_hash"))
            .select_from(
                lines.outerjoin(sums, sums.c.line_id == lines.c.id).outerjoin(
                    last, and_(last.c.line_id == lines.c.id, last.c.seq == sums.c.last_seq)
                )
            )
            .where(
                or_(
                    sums.c.entries.is_(None),
                    sums.c.entries != lines.c.version,
                    sums.c.limit_sum != lines.c.limit_minor,
                    sums.c.principal_sum != lines.c.principal_outstanding_minor,
                    sums.c.held_sum != lines.c.held_minor,
                    last.c.hash != lines.c.head_hash,
                    last.c.status_after != lines.c.status,
                )
            )
        )
        for row in connection.execute(query).mappings():
            yield Finding(
                "snapshot_equals_journal",
                row["id"],
                f"line is {row['status']} with limit={row['limit_minor']} principal="
                f"{row['principal_outstanding_minor']} held={row['held_minor']} "
                f"version={row['version']}; journal sums limit={row['limit_sum']} principal="
                f"{row['principal_sum']} held={row['held_sum']} over {row['entries']} entries",
            )

    @staticmethod
    def _held_equals_live_holds(connection: Connection) -> Iterable[Finding]:
        return _line_column_mismatches(
            connection,
            "held_equals_live_holds",
            lines.c.held_minor,
            drawdowns.c.line_id,
            drawdowns.c.amount_minor,
            drawdowns.c.status == "held",
            "line holds {line} but live drawdowns hold {children}",
        )

    @staticmethod
    def _decisions_recorded(connection: Connection) -> Iterable[Finding]:
        missing_decision = (
            select(journal.c.line_id, journal.c.seq, journal.c.decision_id)
            .select_from(journal.outerjoin(decisions, decisions.c.id == journal.c.decision_id))
            .where(journal.c.decision_id.is_not(None), decisions.c.id.is_(None))
        )
        for row in connection.execute(missing_decision):
            yield Finding(
                "decision_recorded",
                row.line_id,
                f"journal entry {row.seq} names decision {row.decision_id}, which is missing",
            )
        undecided = select(journal.c.line_id, journal.c.seq, journal.c.kind).where(
            journal.c.kind.in_([action.value for action in Action]),
            journal.c.decision_id.is_(None),
        )
        for row in connection.execute(undecided):
            yield Finding(
                "decision_recorded",
                row.line_id,
                f"journal entry {row.seq} ({row.kind}) has no decision",
            )
        # A line that cannot be drawn on must say why: the decision behind its status.
        behind = decisions.alias("behind_status")
        unexplained = (
            select(lines.c.id, lines.c.status, lines.c.status_decision_id)
            .select_from(lines.outerjoin(behind, behind.c.id == lines.c.status_decision_id))
            .where(
                lines.c.status != "active",
                or_(
                    behind.c.id.is_(None),
                    behind.c.line_id != lines.c.id,  # another line's decision explains nothing
                    behind.c.status_after != lines.c.status,
                    # NULL on either side is a difference too (a plain != would be unknown).
                    and_(
                        lines.c.status == "frozen",
                        behind.c.until.is_distinct_from(lines.c.frozen_until),
                    ),
                ),
            )
        )
        for row in connection.execute(unexplained):
            yield Finding(
                "status_explained",
                row.id,
                f"line is {row.status} but its decision {row.status_decision_id} does not say so",
            )

    @staticmethod
    def _decisions_announced(connection: Connection) -> Iterable[Finding]:
        told = announced(connection, NOTICE_PREFIX)
        for decision_id, line_id in connection.execute(select(decisions.c.id, decisions.c.line_id)):
            if decision_id not in told:
                yield Finding("notice_written", line_id, f"decision {decision_id} has no notice")

    @staticmethod
    def _hash_chains(
        connection: Connection, progress: Callable[[int], None] | None
    ) -> Iterable[Finding]:
        rows = connection.execution_options(stream_results=True, yield_per=STREAM_BATCH_ROWS)
        result = rows.execute(select(journal).order_by(journal.c.line_id, journal.c.seq))
        current: str | None = None
        prev_hash = GENESIS_HASH
        balances = (0, 0, 0)
        broken: str | None = None
        for row in result.mappings():
            entry = JournalEntry(**row)
            if entry.line_id != current:
                if current is not None and progress is not None:
                    progress(1)
                current, prev_hash, balances, broken, expected_seq = (
                    entry.line_id,
                    GENESIS_HASH,
                    (0, 0, 0),
                    None,
                    1,
                )
            else:
                expected_seq += 1
            if broken is not None:
                continue  # report the first break of a chain only
            balances = (
                balances[0] + entry.limit_delta_minor,
                balances[1] + entry.principal_delta_minor,
                balances[2] + entry.held_delta_minor,
            )
            if entry.seq != expected_seq:
                broken = f"entry {entry.seq} where {expected_seq} was expected"
            elif entry.prev_hash != prev_hash:
                broken = f"entry {entry.seq} does not chain to the entry before it"
            elif entry.hash != entry_hash(entry.prev_hash, entry_fields(entry)):
                broken = f"entry {entry.seq} does not match its hash"
            elif balances != (
                entry.limit_after_minor,
                entry.principal_after_minor,
                entry.held_after_minor,
            ):
                broken = f"entry {entry.seq} balances-after do not follow from its deltas"
            if broken is not None:
                yield Finding("hash_chain_intact", entry.line_id, broken)
            prev_hash = entry.hash
        if current is not None and progress is not None:
            progress(1)


def _line_column_mismatches(
    connection: Connection,
    check: str,
    line_column: Any,
    child_line_id: Any,
    child_amount: Any,
    child_filter: Any,
    detail: str,
) -> Iterable[Finding]:
    """Lines whose `line_column` differs from the sum of `child_amount` over their children
    that pass `child_filter` (no children: zero)."""
    sums = (
        select(child_line_id.label("line_id"), func.sum(child_amount).label("total"))
        .where(child_filter)
        .group_by(child_line_id)
        .subquery()
    )
    total = func.coalesce(sums.c.total, literal(0))
    query = (
        select(lines.c.id, line_column.label("line_value"), total.label("children"))
        .select_from(lines.outerjoin(sums, sums.c.line_id == lines.c.id))
        .where(line_column != total)
    )
    for row in connection.execute(query):
        yield Finding(check, row.id, detail.format(line=row.line_value, children=row.children))
