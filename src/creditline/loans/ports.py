"""The loans capability's published reads for other capabilities (reviews read a line's
repayment record here, never the loans' tables)."""

from __future__ import annotations

from creditline.loans.facts import RepaymentFacts, repayment_facts

__all__ = ["RepaymentFacts", "repayment_facts"]
