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
# The actor a human review's decision is recorded under: the reviewer, on the review's authority.
HUMAN_REVIEWER_PREFIX = "human-review:"


@dataclass(frozen=True, slots=True)
class Actor:
    """`subject` is the borrower id for a borrower, a staff or service name otherwise."""

    subject: str
    role: Role

    @property
    def person(self) -> bool:
        """Whether a person decides (staff, a human reviewer or a borrower), not a policy."""
        return self.role is not Role.SERVICE or self.subject.startswith(HUMAN_REVIEWER_PREFIX)

    @classmethod
    def human_reviewer(cls, reviewer: Actor) -> Actor:
        """The actor a decision made on a human review's authority is recorded under."""
        return cls(f"{HUMAN_REVIEWER_PREFIX}{reviewer.subject}", Role.SERVICE)

    @property
    def scope(self) -> str:
        """The namespace of this actor's idempotency keys."""
        return f"{self.role.value}:{self.subject}"


SYSTEM = Actor("creditline", Role.SERVICE)


def is_automated(scope: str) -> bool:
    """Whether a decision made under `scope` was automated (a service's) rather than a
    person's: staff decide as themselves, a human review as `service:human-review:<agent>`."""
    role, _, subject = scope.partition(":")
    return role == Role.SERVICE.value and not subject.startswith(HUMAN_REVIEWER_PREFIX)
