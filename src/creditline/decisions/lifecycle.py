"""A policy version's life, as data and pure checks: no I/O, no clock (`now` is passed in).

draft → linted → simulated → approved → scheduled → active → retired. Beside that road, a
version may run in `shadow` (from linted or simulated: it decides beside the active version and
changes nothing) or as the `challenger` of an experiment (from simulated, approved for its cell
by another person: docs/decisions/0018); either ends `stopped`, from where it is simulated
again on its way to approval, shadowed again or retired. Each step is recorded
with its actor, time and justification, and never rewritten. Approval is maker-checker: the
approver holds the approver (or admin) role and did not author the version. It needs a
simulation of the current book no older than the profile allows, a guardrail on the share of
the book adversely affected (above it, an admin with a written justification), and, when
borrowers are adversely affected, an effective date at least the profile's notice period away.
A rollback is a new version with an earlier document, governed like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from creditline.kernel.actors import Actor, Role
from creditline.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from creditline.kernel.months import add_months

JUSTIFICATION_LENGTH_MAX = 2000


class State(StrEnum):
    DRAFT = "draft"
    LINTED = "linted"
    SIMULATED = "simulated"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    RETIRED = "retired"
    SHADOW = "shadow"  # decides beside the active version on every trigger; changes nothing
    CHALLENGER = "challenger"  # decides its experiment's cell for real
    STOPPED = "stopped"  # its shadow or its experiment has ended


# Where each state may go next. A simulated version may be simulated again (a fresh book);
# the active version is retired by activation, when its successor takes over.
NEXT: dict[State, frozenset[State]] = {
    State.DRAFT: frozenset({State.LINTED, State.RETIRED}),
    State.LINTED: frozenset({State.SIMULATED, State.SHADOW, State.RETIRED}),
    State.SIMULATED: frozenset(
        {State.SIMULATED, State.APPROVED, State.SHADOW, State.CHALLENGER, State.RETIRED}
    ),
    State.APPROVED: frozenset({State.SCHEDULED, State.RETIRED}),
    State.SCHEDULED: frozenset({State.ACTIVE, State.RETIRED}),
    State.ACTIVE: frozenset(),  # retired only by its successor's activation
    State.RETIRED: frozenset(),
    State.SHADOW: frozenset({State.STOPPED, State.RETIRED}),
    # A challenger stops with its experiment (by hand or by a guardrail), never otherwise: the
    # experiment's record and the version's step are written together.
    State.CHALLENGER: frozenset({State.STOPPED}),
    State.STOPPED: frozenset({State.SIMULATED, State.SHADOW, State.RETIRED}),
}
# Versions whose approved change is still to come: their pending changes hold.
PENDING_STATES = frozenset({State.APPROVED, State.SCHEDULED})
# Versions that decide some lines for real: their announced changes hold as well.
DECIDING_STATES = frozenset({State.ACTIVE, State.CHALLENGER})
APPROVER_ROLES = frozenset({Role.APPROVER, Role.ADMIN})


class PolicyVersionReused(Conflict):
    """A label already stored with other content."""

    code = "policy_version_reused"


class PolicyNotFound(NotFound):
    """No policy is stored under the label."""

    code = "policy_not_found"


class PolicyTransitionRefused(Conflict):
    """The version's state does not allow the step asked for."""

    code = "policy_transition_refused"


class ApproverIsAuthor(Forbidden):
    """Maker-checker: the author of a version may not approve it."""

    code = "approver_is_author"


class SimulationStale(Conflict):
    """No simulation of the current book, or the latest is older than the profile allows."""

    code = "simulation_stale"


class GuardrailExceeded(Forbidden):
    """More of the book is adversely affected than the policy's guardrail allows: approval
    needs an admin and a written justification."""

    code = "guardrail_exceeded"


class NoticePeriodTooShort(InvalidInput):
    """Borrowers are adversely affected and the change would take effect before their notice
    period has run."""

    code = "notice_period_too_short"


class PolicyIsActive(Conflict):
    """The active version is retired only by activating its successor."""

    code = "policy_is_active"


class SimulationNotFound(NotFound):
    code = "simulation_not_found"


@dataclass(frozen=True, slots=True)
class Step:
    """One recorded step of a version's life."""

    state: State
    actor: str  # the actor's scope
    at: datetime
    justification: str | None
    effective_at: datetime | None = None
    simulation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Impact:
    """What a simulation found, as approval weighs it."""

    simulation_id: str
    at: datetime
    lines_total: int
    adverse_count: int
    close_count: int  # lines the candidate closes (EU: terminations need their own notice)

    @property
    def adverse_share(self) -> Decimal:
        """The share of the book adversely affected (0 for an empty book)."""
        if self.lines_total == 0:
            return Decimal(0)
        return Decimal(self.adverse_count) / Decimal(self.lines_total)


@dataclass(frozen=True, slots=True)
class NoticeRules:
    """A profile's rules for announcing a policy change."""

    notice_days: int  # before an adverse change takes effect (CN 30, US 45)
    termination_notice_months: int  # before a close takes effect (EU 2)
    simulation_age_max: timedelta  # how old a simulation approval rests on may be


def require_transition(current: State, wanted: State, label: str) -> None:
    """Refuse a step the version's state does not allow."""
    if wanted not in NEXT[current]:
        if current is State.ACTIVE and wanted is State.RETIRED:
            raise PolicyIsActive(
                f"{label} is active: it is retired when its successor becomes active",
                policy=label,
            )
        raise PolicyTransitionRefused(
            f"{label} is {current.value}: it cannot become {wanted.value}",
            policy=label,
            state=current.value,
            wanted=wanted.value,
        )


def checked_justification(text: str | None, *, required: bool = False) -> str | None:
    """A justification: bounded, printable, and present when `required`."""
    if text is not None:
        text = text.strip()
        if len(text) > JUSTIFICATION_LENGTH_MAX:
            raise InvalidInput(f"justification: at most {JUSTIFICATION_LENGTH_MAX} characters")
        if not all(ch.isprintable() or ch in "\n\t" for ch in text):
            raise InvalidInput("justification: no control characters")
        text = text or None
    if required and text is None:
        raise InvalidInput("a written justification is required", field="justification")
    return text


def require_checker(approver: Actor, author_scope: str, label: str) -> None:
    """Maker-checker: an approver (or admin) who is not the version's author, whatever role
    either acted in (a person is their subject)."""
    if approver.role not in APPROVER_ROLES:
        raise Forbidden(f"role {approver.role.value} may not approve policy versions")
    if approver.subject == author_scope.partition(":")[2]:
        raise ApproverIsAuthor(
            f"{label} was submitted by {author_scope}: another person approves it",
            policy=label,
            author=author_scope,
        )


def require_fresh(impact: Impact | None, now: datetime, age_max: timedelta, label: str) -> Impact:
    """The latest simulation, when it is no older than `age_max`."""
    if impact is None:
        raise SimulationStale(f"{label} has no simulation: simulate it on the current book")
    age = now - impact.at
    if age > age_max:
        raise SimulationStale(
            f"{label}'s latest simulation is {int(age.total_seconds() // 3600)} h old; at most "
            f"{int(age_max.total_seconds() // 3600)} h: simulate it again on the current book",
            simulation_id=impact.simulation_id,
            simulated_at=impact.at.isoformat(),
            age_hours_max=int(age_max.total_seconds() // 3600),
        )
    return impact


def require_within_guardrail(
    impact: Impact, share_max: Decimal, approver: Actor, justification: str | None, label: str
) -> bool:
    """Whether the guardrail was exceeded (and overridden by an admin with a justification);
    above it without both, refused."""
    if impact.adverse_share <= share_max:
        return False
    if approver.role is not Role.ADMIN or justification is None:
        raise GuardrailExceeded(
            f"{label} adversely affects {impact.adverse_count} of {impact.lines_total} lines "
            f"({_percent(impact.adverse_share)}), above its guardrail of {_percent(share_max)}: "
            "an admin approves it with a written justification",
            adverse_count=impact.adverse_count,
            lines_total=impact.lines_total,
            adverse_share=str(impact.adverse_share.quantize(Decimal("0.0001"))),
            adverse_share_max=str(share_max),
        )
    return True


def earliest_effective(impact: Impact, approved_at: datetime, rules: NoticeRules) -> datetime:
    """The earliest date the change may take effect: at once when nobody is adversely
    affected, else after the notice period (the termination notice when lines are closed)."""
    if impact.adverse_count == 0:
        return approved_at
    earliest = approved_at + timedelta(days=rules.notice_days)
    if impact.close_count and rules.termination_notice_months:
        earliest = max(earliest, add_months(approved_at, rules.termination_notice_months))
    return earliest


def require_notice_period(
    impact: Impact, approved_at: datetime, effective_at: datetime, rules: NoticeRules
) -> None:
    """Refuse an effective date before the affected borrowers' notice period has run."""
    if effective_at.tzinfo is None:
        raise InvalidInput("effective_at needs a time zone", field="effective_at")
    earliest = earliest_effective(impact, approved_at, rules)
    if effective_at < earliest:
        raise NoticePeriodTooShort(
            f"{impact.adverse_count} borrower(s) are adversely affected: the change takes "
            f"effect on {earliest.isoformat()} at the earliest",
            earliest=earliest.isoformat(),
            notice_days=rules.notice_days,
            adverse_count=impact.adverse_count,
        )


def _percent(share: Decimal) -> str:
    return f"{(share * 100).quantize(Decimal('0.01'))} %"


_SEVERITY = {"decrease": 1, "freeze": 2, "suspend": 3, "close": 4}


def severity(action: str) -> int:
    """How much an action takes from what the borrower can draw: keep and increase 0, then
    decrease, freeze, suspend, close."""
    return _SEVERITY.get(action, 0)


def harsher(action: str, limit_minor: int, announced_action: str, announced_minor: int) -> bool:
    """Whether a decision takes more than the change announced: a harsher action, or the same
    cut to a lower limit."""
    if severity(action) != severity(announced_action):
        return severity(action) > severity(announced_action)
    return limit_minor < announced_minor
