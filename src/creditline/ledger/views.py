"""Response documents: what a caller sees of lines, drawdowns, decisions and the journal.

Amounts are decimal strings in major units. A command's document is stored with its
idempotency key and returned unchanged on a replay.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from creditline.kernel.money import format_minor
from creditline.kernel.reasons import reason_texts
from creditline.ledger.journal import JournalEntry
from creditline.ledger.limit_rules import BorrowerRequest, RequestStatus
from creditline.ledger.model import Line
from creditline.ledger.records import DecisionRecord, Drawdown, PricedHold, StoredDecision


def iso(value: datetime | None) -> str | None:
    """A time as ISO 8601 text (None stays None)."""
    return None if value is None else value.isoformat()


def money_of(currency: str) -> Callable[[int], str]:
    """A formatter of minor units of `currency` as decimal strings."""

    def money(minor: int) -> str:
        return format_minor(minor, currency)

    return money


def line_document(line: Line) -> dict[str, Any]:
    """A line's balances, status and version as a caller sees them."""
    money = money_of(line.currency)
    return {
        "id": line.id,
        "borrower_id": line.borrower_id,
        "currency": line.currency,
        "limit": money(line.limit_minor),
        "available": money(line.available_minor),
        "principal_outstanding": money(line.principal_minor),
        "held": money(line.held_minor),
        "status": line.status.value,
        "frozen_until": iso(line.frozen_until),
        # A close the lender decided: the line is usable until this time (EU-2).
        "closing_at": iso(line.closing_at),
        "status_decision_id": line.status_decision_id,
        "version": line.version,
        # The limit equals what is owed (and held): nothing to draw until a repayment.
        "fully_used": line.available_minor == 0 and line.principal_minor + line.held_minor > 0,
    }


def decision_document(record: DecisionRecord) -> dict[str, Any]:
    """A decision as its maker and its notice see it: the change, the reasons in plain words."""
    money = money_of(record.currency)
    return {
        "id": record.id,
        "action": record.action.value,
        "adverse": record.adverse,
        "limit_before": money(record.limit_before_minor),
        "limit_after": money(record.limit_after_minor),
        "status_before": record.status_before.value,
        "status_after": record.status_after.value,
        "until": iso(record.until),
        "effective_at": iso(record.effective_at),
        "reason_codes": list(record.reason_codes),
        "reasons": reason_texts(record.reason_codes),
        "actor": record.actor_scope,
        "policy_version": record.policy_version,
        "note": record.note,
        "at": iso(record.at),
    }


def drawdown_document(
    drawdown: Drawdown, line: Line, price: PricedHold
) -> tuple[dict[str, Any], str]:
    """A held drawdown with its price and the line after the hold, and its JSON: what
    `json.dumps` gives, with the quote's JSON encoded once per remembered price."""
    head = {
        "id": drawdown.id,
        "line_id": line.id,
        "status": drawdown.status,
        "amount": format_minor(drawdown.amount_minor, line.currency),
        "currency": line.currency,
        "term_months": drawdown.term_months,
        "expires_at": iso(drawdown.expires_at),
    }
    after = line_document(line)
    text = f'{json.dumps(head)[:-1]}, "quote": {price.quote_json}, "line": {json.dumps(after)}}}'
    return {**head, "quote": price.quote, "line": after}, text


def journal_entry_document(entry: JournalEntry, currency: str) -> dict[str, Any]:
    """One journal entry: the deltas, the balances after them and the hash chain."""
    money = money_of(currency)
    return {
        "seq": entry.seq,
        "kind": entry.kind,
        "at": iso(entry.created_at),
        "limit_delta": money(entry.limit_delta_minor),
        "principal_delta": money(entry.principal_delta_minor),
        "held_delta": money(entry.held_delta_minor),
        "limit_after": money(entry.limit_after_minor),
        "principal_after": money(entry.principal_after_minor),
        "held_after": money(entry.held_after_minor),
        "available_after": money(
            entry.limit_after_minor - entry.principal_after_minor - entry.held_after_minor
        ),
        "status_after": entry.status_after,
        "drawdown_id": entry.drawdown_id,
        "loan_id": entry.loan_id,
        "decision_id": entry.decision_id,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def stored_decision_document(stored: StoredDecision, *, staff: bool) -> dict[str, Any]:
    """A recorded decision as a borrower reads it; staff also see who made it, its note and
    its evidence."""
    document = decision_document(stored.record)
    actor, note = document.pop("actor"), document.pop("note")
    document |= {"line_id": stored.record.line_id, "automated": stored.automated}
    if staff:
        document |= {"actor": actor, "note": note, "evidence": stored.evidence}
    return document


def request_document(request: BorrowerRequest, currency: str) -> dict[str, Any]:
    """A borrower's request about their line, as the API shows it: what was asked, by when
    staff act on it (`due_at`) and how it ended."""
    limit = None if request.limit_minor is None else format_minor(request.limit_minor, currency)
    return {
        "id": request.id,
        "line_id": request.line_id,
        "borrower_id": request.borrower_id,
        "kind": request.kind.value,
        "limit": limit,
        "currency": currency,
        "status": request.status.value,
        "created_at": iso(request.created_at),
        "due_at": iso(request.due_at),
        "decision_id": request.decision_id,
        "done_at": iso(request.done_at),
        "withdrawn_at": iso(request.withdrawn_at),
    }


def listed_request_document(
    request: BorrowerRequest, currency: str, now: datetime
) -> dict[str, Any]:
    """A request in a list, flagged `overdue` when it is open past its deadline."""
    overdue = request.status is RequestStatus.OPEN and request.due_at < now
    return {**request_document(request, currency), "overdue": overdue}
