"""Documents of the decisions capability: reviews asked for, and human reviews."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from creditline.db.unit_of_work import Transaction
from creditline.kernel.invariant import fail
from creditline.ledger.ports import line_document

if TYPE_CHECKING:
    from creditline.decisions.appeals import Requested


def requested_document(requested: Requested) -> dict[str, Any]:
    """A review asked for: the policy's outcome (`not_reviewed` when it could not review the
    line), the line after it, the human review."""
    automatic = requested.applied
    return {
        **(_not_reviewed(requested.line.id) if automatic is None else automatic.document()),
        "review_id": requested.review_id,
        "line": line_document(requested.line),
        "human_review": requested.human_review,
    }


def _not_reviewed(line_id: str) -> dict[str, Any]:
    """The automatic part of a request the policy could not review: a person will."""
    return {
        "line_id": line_id,
        "action": None,
        "outcome": "not_reviewed",
        "reason_codes": [],
        "score": None,
        "grade": None,
        "policy": None,
    }


def review_document(row: Any, now: datetime) -> dict[str, Any]:
    """A human review with its deadline, overdue flag and outcome."""
    due = Transaction.read_time(row["due_at"])
    created = Transaction.read_time(row["created_at"])
    decided = Transaction.read_time(row["decided_at"])
    if due is None or created is None:
        fail(f"review {row['id']} has no deadline")
    is_open = row["outcome"] == "open"
    return {
        "id": row["id"],
        "line_id": row["line_id"],
        "borrower_id": row["borrower_id"],
        "status": "open" if is_open else "decided",
        "outcome": None if is_open else row["outcome"],
        "reason_text": row["reason_text"],
        "statement": row["statement"],
        "contested_decision_id": row["contested_decision_id"],
        "requested_at": created.isoformat(),
        "due_at": due.isoformat(),
        "overdue": is_open and due < now,
        "decided_by": row["decided_by"],
        "decided_at": None if decided is None else decided.isoformat(),
        "note": row["note"],
        "decision_id": row["decision_id"],
    }


def line_review_document(row: Any, now: datetime) -> dict[str, Any]:
    """A review in a line's history: a human one with its deadline, an automatic one with what
    it did."""
    if row["kind"] == "human":
        return review_document(row, now) | {"kind": "human", "requested_by": row["requested_by"]}
    created = Transaction.read_time(row["created_at"]) or fail(f"review {row['id']} has no time")
    return {
        "id": row["id"],
        "kind": "automatic",
        "requested_by": row["requested_by"],
        "requested_at": created.isoformat(),
        "outcome": row["outcome"],
        "reason_text": row["reason_text"],
        "decision_id": row["decision_id"],
    }
