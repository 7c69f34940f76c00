"""The ledger's journal: append-only entries, each chained to the one before it by hash.

Pure: no I/O and no clock. An entry records one movement of a line with the line's balances
after it. Its hash covers the previous entry's hash and the entry's fields in a fixed textual
form, so changing, dropping or reordering any stored entry breaks the chain from there on; a
line's first entry chains to `GENESIS_HASH`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from creditline.kernel.clock import utc_text

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One append-only posting with the line's balances after it, chained by hash."""

    line_id: str
    seq: int
    kind: str
    limit_delta_minor: int
    principal_delta_minor: int
    held_delta_minor: int
    limit_after_minor: int
    principal_after_minor: int
    held_after_minor: int
    status_after: str
    drawdown_id: str | None
    loan_id: str | None
    decision_id: str | None
    created_at: datetime
    prev_hash: str
    hash: str


def entry_hash(prev_hash: str, fields: tuple[object, ...]) -> str:
    """SHA-256 over the previous hash and the entry's fields in a fixed textual form: a time as
    ISO 8601 in UTC with microseconds and `Z`, None as nothing, anything else as `str`."""
    texts = [v if type(v) is str else str(v) if type(v) is int else _text(v) for v in fields]
    return hashlib.sha256("|".join([prev_hash, *texts]).encode()).hexdigest()


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return utc_text(value, "T") + "Z"
    return "" if value is None else str(value)


def entry_fields(entry: JournalEntry) -> tuple[object, ...]:
    """The fields `entry_hash` covers, in order (used to verify a stored chain)."""
    return (
        entry.line_id,
        entry.seq,
        entry.kind,
        entry.limit_delta_minor,
        entry.principal_delta_minor,
        entry.held_delta_minor,
        entry.limit_after_minor,
        entry.principal_after_minor,
        entry.held_after_minor,
        entry.status_after,
        entry.drawdown_id,
        entry.loan_id,
        entry.decision_id,
        entry.created_at,
    )
