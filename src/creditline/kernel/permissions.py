"""Who may do what: one table of role × permission, used by every use case and every route.

A borrower acts on their own lines, loans, notices and applications only (each service checks
ownership); staff roles act on any line their permission covers. An analyst reads and never
changes a line; they may author policy versions, which change nothing until an approver who is
not their author approves them. Changing a limit itself (increase, decrease, close) needs an
approver, an admin or a service; freezes and suspensions, which keep the limit, may also be set
by an agent (docs/decisions/0004).
"""

from __future__ import annotations

from enum import StrEnum

from creditline.kernel.actors import Actor, Role
from creditline.kernel.errors import Forbidden


class Permission(StrEnum):
    READ_LINES = "read lines, loans and decisions"
    READ_STAFF_VIEWS = "read the review queue, policies and decision evidence"
    OPEN_LINE = "open lines"
    DRAW = "draw on a line, post or void a drawdown"
    REPAY = "record a repayment"
    REFUND = "pay a loan's credit balance back to its borrower"
    CHANGE_LIMIT = "raise, cut or close a line"
    FREEZE_LINE = "freeze, suspend or restore a line"
    REQUEST_REVIEW = "ask for a review of a line"
    DECIDE_REVIEW = "decide human reviews"
    APPLY = "submit applications"
    RECORD_CONSENT = "record consent to a bureau pull"
    LOAD_BUREAU_REPORT = "load bureau reports"
    VERIFY = "send verification evidence"
    USE_INBOX = "read the inbox and set notice preferences"
    REQUEST_LINE_CHANGE = "ask to lower the limit of, or to close, one's own line"
    AUTHOR_POLICY = "submit and simulate policy versions"
    APPROVE_POLICY = "approve, schedule and retire policy versions"
    READ_PORTFOLIO = "read portfolio reports"


_EVERYONE = frozenset(Role)
_STAFF = frozenset(Role) - {Role.BORROWER}
_OPERATORS = frozenset({Role.AGENT, Role.ADMIN, Role.SERVICE})
_DECIDERS = frozenset({Role.APPROVER, Role.ADMIN, Role.SERVICE})

PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.READ_LINES: _EVERYONE,
    Permission.READ_STAFF_VIEWS: _STAFF,
    Permission.OPEN_LINE: _OPERATORS,
    Permission.DRAW: _OPERATORS | {Role.BORROWER},
    Permission.REPAY: _OPERATORS | {Role.BORROWER},
    Permission.REFUND: _OPERATORS,
    Permission.CHANGE_LIMIT: _DECIDERS,
    Permission.FREEZE_LINE: _DECIDERS | {Role.AGENT},
    Permission.REQUEST_REVIEW: _EVERYONE - {Role.ANALYST},
    Permission.DECIDE_REVIEW: frozenset({Role.AGENT, Role.APPROVER, Role.ADMIN}),
    Permission.APPLY: _OPERATORS | {Role.BORROWER},
    Permission.RECORD_CONSENT: _OPERATORS | {Role.BORROWER},
    Permission.LOAD_BUREAU_REPORT: _OPERATORS,
    Permission.VERIFY: frozenset({Role.BORROWER}),
    Permission.USE_INBOX: frozenset({Role.BORROWER}),
    Permission.REQUEST_LINE_CHANGE: frozenset({Role.BORROWER}),
    # A version changes nothing until another person approves it (maker-checker).
    Permission.AUTHOR_POLICY: frozenset({Role.ANALYST, Role.APPROVER, Role.ADMIN}),
    Permission.APPROVE_POLICY: frozenset({Role.APPROVER, Role.ADMIN}),
    # The book's figures: every staff role, never a borrower.
    Permission.READ_PORTFOLIO: _STAFF,
}


def allows(actor: Actor, permission: Permission) -> bool:
    """Whether the actor's role holds `permission`."""
    return actor.role in PERMISSIONS[permission]


def require(actor: Actor, permission: Permission) -> None:
    """Refuse (`forbidden`) an actor whose role does not hold `permission`."""
    if not allows(actor, permission):
        raise Forbidden(f"role {actor.role.value} may not {permission.value}")
