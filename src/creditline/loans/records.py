"""Typed results of loan use cases, shaped into documents by `loans.views`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from creditline.ledger.ports import Drawdown, Line
from creditline.loans.model import Allocation, LoanState


@dataclass(frozen=True, slots=True)
class Posted:
    """A hold posted as a loan: the loan's price and the line after it."""

    drawdown: Drawdown
    loan_id: str
    post_minor: int
    upfront_fee_minor: int  # taken from the advance: the borrower receives the rest
    quote: dict[str, Any]
    line: Line
    funding: dict[str, int]  # minor units by funder (CN-3)


@dataclass(frozen=True, slots=True)
class Repaid:
    """A repayment applied: how it was split and where it left the loan and the line."""

    repayment_id: str
    loan: LoanState
    amount_minor: int
    split: Allocation
    business_date: str
    line: Line


@dataclass(frozen=True, slots=True)
class Refunded:
    """A credit balance paid back: how much, and the loan and the line after it."""

    refund_id: str
    loan: LoanState
    amount_minor: int
    business_date: str
    line: Line
