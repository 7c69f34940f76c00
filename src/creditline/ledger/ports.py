"""The ledger's boundary: its typed results, its in-transaction port, the port it needs.

Other capabilities reach the ledger only through `LedgerService` (use cases in their own
transactions) and this module. `LedgerPort` moves credit inside another capability's
transaction: the loans service posts a hold as a loan and restores repaid principal with it,
so a settlement gives the credit back in the transaction that settles the loan; decisions
record limit changes with it in the transaction of a review. The ledger prices a hold through
`Pricing`, which the loans capability implements. `movement_statement` puts a movement into
another capability's one-statement shape on PostgreSQL (docs/decisions/0030).
"""

from __future__ import annotations

from creditline.ledger.facts import (
    LineFacts,
    decision_lines,
    first_open_lines,
    freezes_ending,
    journal_entries_by_loan,
    journal_principal_by_loan,
    line_facts,
    line_principals,
)
from creditline.ledger.in_transaction import LedgerPort
from creditline.ledger.limit_rules import (
    CAP_REASONS,
    BorrowerRequest,
    Capacity,
    CapCheck,
    PolicyBounds,
    RegulatoryCaps,
    cap_check,
)
from creditline.ledger.model import (
    ADVERSE_ACTIONS,
    Action,
    LimitChange,
    Line,
    LineStatus,
)
from creditline.ledger.needs import (
    ConsumerReports,
    KeyFactor,
    Limits,
    Pricing,
    ReportOnFile,
    Terms,
    Underwriting,
)
from creditline.ledger.profile_rules import ProfileRules
from creditline.ledger.reconcile import Finding
from creditline.ledger.records import DecisionRecord, Drawdown, PricedHold, StoredDecision
from creditline.ledger.statements import (
    LINE_PART,
    MOVEMENT_GUARD,
    movement_parts,
    movement_statement,
)
from creditline.ledger.views import (
    decision_document,
    line_document,
    stored_decision_document,
)

__all__ = [
    "ADVERSE_ACTIONS",
    "CAP_REASONS",
    "LINE_PART",
    "MOVEMENT_GUARD",
    "Action",
    "BorrowerRequest",
    "CapCheck",
    "Capacity",
    "ConsumerReports",
    "DecisionRecord",
    "Drawdown",
    "Finding",
    "KeyFactor",
    "LedgerPort",
    "LimitChange",
    "Limits",
    "Line",
    "LineFacts",
    "LineStatus",
    "PolicyBounds",
    "PricedHold",
    "Pricing",
    "ProfileRules",
    "RegulatoryCaps",
    "ReportOnFile",
    "StoredDecision",
    "Terms",
    "Underwriting",
    "cap_check",
    "decision_document",
    "decision_lines",
    "first_open_lines",
    "freezes_ending",
    "journal_entries_by_loan",
    "journal_principal_by_loan",
    "line_document",
    "line_facts",
    "line_principals",
    "movement_parts",
    "movement_statement",
    "stored_decision_document",
]
