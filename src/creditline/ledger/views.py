"""Response documents: what a caller sees of lines, drawdowns, loans and decisions.

Amounts are decimal strings in major units. A command's document is stored with its
idempotency key and returned unchanged on a replay.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from creditline.kernel.money import format_minor
from creditline.ledger.model import Line


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def money_of(currency: str) -> Callable[[int], str]:
    """A formatter of minor units of `currency` as decimal strings."""

    def money(minor: int) -> str:
        return format_minor(minor, currency)

    return money


def line_document(line: Line) -> dict[str, Any]:
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
        "status_decision_id": line.status_decision_id,
        "version": line.version,
    }
