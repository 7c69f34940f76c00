"""Who is asking: an authenticated subject with one role."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    BORROWER = "borrower"
    AGENT = "agent"
    ANALYST = "analyst"
    APPROVER = "approver"
    ADMIN = "admin"
    SERVICE = "service"


STAFF_ROLES = frozenset(role for role in Role if role is not Role.BORROWER)


@dataclass(frozen=True, slots=True)
class Actor:
    """`subject` is the borrower id for a borrower, a staff or service name otherwise."""

    subject: str
    role: Role

    @property
    def scope(self) -> str:
        """The namespace of this actor's idempotency keys."""
        return f"{self.role.value}:{self.subject}"


SYSTEM = Actor("creditline", Role.SERVICE)
# A service acting on a person's human review: the change is the person's decision.
HUMAN_REVIEW_PREFIX = "human-review:"


def is_automated(scope: str) -> bool:
    """Whether a decision made under `scope` was automated (a service's) rather than a
    person's: staff decide as themselves, a human review as `service:human-review:<agent>`."""
    role, _, subject = scope.partition(":")
    return role == Role.SERVICE.value and not subject.startswith(HUMAN_REVIEW_PREFIX)
