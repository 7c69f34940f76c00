"""The loans capability's published reads for other capabilities (reviews read a line's
repayment record here, reminders and statements what falls due and what a month moved; never
the loans' tables)."""

from __future__ import annotations

from creditline.loans.facts import (
    InstalmentDue,
    LineMonth,
    LoanInStatement,
    RepaymentFacts,
    line_months,
    overdue_of_loans,
    repayment_facts,
    unpaid_instalments,
)

__all__ = [
    "InstalmentDue",
    "LineMonth",
    "LoanInStatement",
    "RepaymentFacts",
    "line_months",
    "overdue_of_loans",
    "repayment_facts",
    "unpaid_instalments",
]
