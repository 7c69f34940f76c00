"""What a chunk of a book review's changes reads before it applies them, one statement each.

Applied one by one, each change read four rows on its own: its idempotency key, the change a
policy announced for its line, its line (locked) and the borrower's consumer report on file
for an adverse notice. A chunk reads them for all its changes at once, in its own transaction,
in the order a change alone reads them: announcements and keys first, then the lines whose
change is still to be made, locked in id order, then the reports of the borrowers an adverse
change notifies. Each change then applies as alone, on what was read (docs/decisions/0025).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from creditline.db.commands import StoredKeys
from creditline.db.unit_of_work import Prepared, Transaction
from creditline.decisions.engine import Decision
from creditline.kernel.actors import Actor
from creditline.kernel.errors import LineNotFound
from creditline.ledger.ports import LedgerPort, Line, ReportOnFile


@dataclass(frozen=True, slots=True)
class ChunkReads:
    """A chunk's reads: its changes' stored keys, the changes announced for its adverse
    changes' lines (None: none), its lines locked (None: not found) and its adverse changes'
    borrowers' reports on file. What is not here is read when needed, as for a line alone."""

    day: str  # the business date (ISO) its changes' keys name, read once for the chunk
    keys: StoredKeys
    announced: dict[str, dict[str, object] | None]
    lines: dict[str, Line | None]
    reports: dict[str, ReportOnFile | None]

    def locked(self, line_id: str) -> Line | None:
        """The line locked for the chunk; None when it was not locked with it."""
        if line_id not in self.lines:
            return None
        line = self.lines[line_id]
        if line is None:
            raise LineNotFound("no such line", line_id=line_id)
        return line


def announced_changes(
    tx: Transaction, statement: Prepared, changes: list[Decision], now: datetime
) -> dict[str, dict[str, object] | None]:
    """The change each adverse change's policy announced for its line and has not yet made
    (None: none), one statement per policy (a chunk has one, or two in an experiment)."""
    found: dict[str, dict[str, object] | None] = {}
    by_policy: dict[str, list[str]] = {}
    for decision in changes:
        if decision.adverse:
            by_policy.setdefault(decision.policy, []).append(decision.line_id)
    for label, line_ids in by_policy.items():
        policy_id, _, version = label.partition("@")
        found.update(dict.fromkeys(line_ids))
        params = {"line_ids": tx.values(line_ids), "policy_id": policy_id, "version": version}
        for line_id, change in tx.all(statement, {**params, "now": tx.time(now)}):
            if found.get(line_id) is None:  # a line alone reads its first
                found[line_id] = json.loads(change)
    return found


def lock_and_report(
    tx: Transaction, port: LedgerPort, actor: Actor, line_ids: list[str], adverse: set[str]
) -> tuple[dict[str, Line | None], dict[str, ReportOnFile | None]]:
    """The lines (those `actor` may see) locked in one statement in id order, and the reports
    on file of the borrowers of the `adverse` lines among them."""
    locked = port.lock_many(tx, actor, line_ids)
    lines: dict[str, Line | None] = {line_id: locked.get(line_id) for line_id in line_ids}
    borrowers = sorted({line.borrower_id for line in locked.values() if line.id in adverse})
    return lines, port.reports_on_file(tx, borrowers)


def waits_for_announced(decision: Decision, announced: Mapping[str, object] | None) -> bool:
    """Whether an adverse decision waits for the change its policy `announced` for the line
    (None: none announced). A risk-triggered block (a freeze or suspension by a rule other than
    the announced change's) does not wait."""
    if announced is None:
        return False
    risk = decision.action in ("freeze", "suspend") and decision.decisive_rule != announced.get(
        "rule"
    )
    return not risk
