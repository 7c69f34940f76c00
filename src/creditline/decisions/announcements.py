"""One borrower told of a policy change to come: a pending change with its own effective date
(the profile's notice period from now) and its `policy_change` notice, in the caller's
transaction. Activation tells a borrower newly affected, or affected more than they were told;
an experiment's challenger tells the lines of its cell (docs/decisions/0015, 0018)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from creditline.db.unit_of_work import Transaction
from creditline.decisions import change_store
from creditline.decisions.lifecycle import Impact, NoticeRules, earliest_effective
from creditline.kernel.ids import new_id
from creditline.notices.outbox import Outbox, Topic


def announce_line(
    tx: Transaction,
    outbox: Outbox,
    rules: NoticeRules,
    label: tuple[str, str],
    line: tuple[str, str],
    change: dict[str, Any],
    now: datetime,
) -> datetime:
    """Announce `change` (action, limits, reasons) that version `label` will make to `line`
    (its id and its borrower's) after the notice period `rules` set; when it takes effect."""
    closes = 1 if change["action"] == "close" else 0
    effective_at = earliest_effective(Impact("", now, 1, 1, closes), now, rules)
    change_id = new_id()
    payload = {
        "policy": "@".join(label),
        "announced_at": now.isoformat(),
        "effective_at": effective_at.isoformat(),
        "policy_change": change,
    }
    notice_id = outbox.queue(
        tx,
        Topic.POLICY_CHANGE,
        line_id=line[0],
        borrower_id=line[1],
        ref_id=change_id,
        payload=payload,
        now=now,
    )
    change_store.insert_change(
        tx.connection, (change_id, notice_id), label, line, change, (now, effective_at)
    )
    return effective_at
