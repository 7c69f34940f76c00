"""Re-verification: a suspended line comes back by itself once the borrower re-verifies.

`POST /v1/verifications` {kind: identity | income, evidence} goes to a pluggable `Verifier`
(the development verifier in the box checks that the evidence is complete and in date). A
refused verification is recorded with its reason and the borrower is told, in the same
transaction. An accepted one feeds the features (an income verification is the newest income
evidence), and each of the borrower's lines suspended for a reason this kind of verification
answers is decided again by the policy: unless a rule still suspends it, it is restored through
the ledger with `verification_completed`, its evidence and its notice — no new application.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, insert

from creditline.db.commands import CommandResult, Commands
from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.rate_limits import RateLimit, refuse_over_limit
from creditline.decisions.service import REVIEWER, DecisionService
from creditline.decisions.tables import verifications
from creditline.kernel.actors import Actor
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Conflict, InvalidInput, LineNotFound
from creditline.kernel.ids import new_id
from creditline.kernel.money import Money, format_minor
from creditline.kernel.permissions import Permission, require
from creditline.kernel.reasons import REASON_CATALOGUE, NextStep
from creditline.kernel.text import checked_text
from creditline.ledger.ports import Action, LimitChange, Line, LineStatus
from creditline.ledger.service import LedgerService
from creditline.notices.outbox import Topic

KINDS = {"identity": NextStep.VERIFY_IDENTITY, "income": NextStep.UPDATE_INCOME}
EVIDENCE_VALIDITY_DAYS_MAX = 400  # income evidence is good for about a year at most
_FIELD_LENGTH_MAX = 128
LINES_VERIFIED_MAX = 100  # a borrower's lines a verification looks at
EVIDENCE_BYTES_MAX = 16 * 1024
# The evidence each kind may carry: text fields only, each a short string.
EVIDENCE_FIELDS = {
    "identity": frozenset({"document_type", "document_number", "full_name"}),
    "income": frozenset({"income_monthly", "currency", "document_id", "issued_on", "expires_on"}),
}


class InvalidEvidence(InvalidInput):
    code = "invalid_evidence"


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    problem: str | None = None  # in English, for staff and English notices
    # What went wrong, as a code a notice can say in the borrower's language.
    problem_code: str | None = None
    income_monthly_minor: int | None = None
    currency: str | None = None
    expires_on: dt.date | None = None


class Verifier(Protocol):
    """Checks a borrower's evidence; a real identity or income service plugs in here."""

    name: str

    def verify(self, kind: str, evidence: dict[str, Any], today: dt.date) -> Verdict:
        """The verdict on `evidence` of `kind` as of the business date `today`."""
        ...


class DevelopmentVerifier:
    """Accepts evidence that is complete and in date; for development and tests only.

    identity: {document_type: id_card | passport, document_number, full_name}
    income: {income_monthly: "12000.00", currency, document_id, issued_on, expires_on}
    """

    name = "development"

    def verify(self, kind: str, evidence: dict[str, Any], today: dt.date) -> Verdict:
        """Accept evidence that is complete and in date."""
        if kind == "identity":
            if evidence.get("document_type") not in ("id_card", "passport"):
                return Verdict(False, "document_type must be id_card or passport", "document_type")
            for field in ("document_number", "full_name"):
                if not _text(evidence.get(field)):
                    return Verdict(False, f"{field} is missing", "incomplete")
            return Verdict(True)
        if not _text(evidence.get("document_id")):
            return Verdict(False, "document_id is missing", "incomplete")
        try:
            issued = dt.date.fromisoformat(str(evidence.get("issued_on")))
            expires = dt.date.fromisoformat(str(evidence.get("expires_on")))
            income = Money.parse(str(evidence.get("income_monthly")), str(evidence.get("currency")))
        except (ValueError, InvalidInput) as error:
            return Verdict(False, f"the evidence is incomplete: {error}", "incomplete")
        if issued > today:
            return Verdict(False, "the document is dated in the future", "future_dated")
        if expires <= today:
            return Verdict(False, f"the document expired on {expires.isoformat()}", "expired")
        if (expires - issued).days > EVIDENCE_VALIDITY_DAYS_MAX:
            return Verdict(False, "income evidence is valid for a year at most", "too_long")
        if income.minor <= 0:
            return Verdict(False, "the income must be positive", "not_positive")
        return Verdict(
            True,
            income_monthly_minor=income.minor,
            currency=income.currency,
            expires_on=expires,
        )


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value.strip()) <= _FIELD_LENGTH_MAX


@dataclass(frozen=True, slots=True)
class Verified:
    """A verification recorded, the lines it restored (or left suspended) and where the
    borrower's lines stand after it."""

    verification_id: str
    kind: str
    verdict: Verdict
    lines: list[dict[str, Any]]
    line_status: dict[str, str]


class Verifications:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        commands: Commands,
        ledger: LedgerService,
        decisions: DecisionService,
        verifier: Verifier,
        *,
        rate_limit: RateLimit,
    ) -> None:
        self._clock = clock
        self._rate_limit = rate_limit
        self._commands = commands
        self._ledger = ledger
        self._decisions = decisions
        self._verifier = verifier
        self._insert = db.prepare(
            insert(verifications).values({c.name: bindparam(c.name) for c in verifications.c})
        )

    def submit(
        self,
        actor: Actor,
        key: str,
        kind: str,
        evidence: dict[str, Any],
        line_id: str | None = None,
    ) -> CommandResult:
        """Verify the evidence and restore the lines it answers, in one command. A borrower's
        verifications are limited per window (`rate_limited`)."""
        require(actor, Permission.VERIFY)
        if kind not in KINDS:
            raise InvalidInput("kind must be identity or income")
        checked_evidence(kind, evidence)
        self._decisions.ready()
        request: dict[str, Any] = {
            "op": "verify",
            "kind": kind,
            "evidence": evidence,
            "line_id": line_id,
        }

        def work(tx: Transaction) -> Verified:
            now = self._clock.now()
            refuse_over_limit(tx, self._rate_limit, verifications, actor.subject, now)
            lines = self._ledger.port.lines_of_borrower(tx, actor.subject, LINES_VERIFIED_MAX)
            if line_id is not None and line_id not in {line.id for line in lines}:
                raise LineNotFound("no such line", line_id=line_id)
            if not lines:
                raise Conflict("there is no line to verify for")
            verdict = self._verdict(kind, evidence, now, {line.currency for line in lines})
            verification_id = new_id()
            self._record(tx, actor, verification_id, kind, verdict, evidence, now)
            restored: list[dict[str, Any]] = []
            if not verdict.accepted:
                told = line_id or _line_to_tell(lines)
                # The notice says what was wrong by its code, in the borrower's language: text
                # the borrower sent (echoed in a verifier's message) never reaches a notice.
                payload: dict[str, Any] = {"verification": verification_id, "kind": kind}
                payload["problem_code"] = verdict.problem_code
                self._ledger.port.queue_notice(
                    tx, Topic.VERIFICATION_FAILED, told, verification_id, payload
                )
            else:
                restored = self._restore(tx, lines, kind, line_id)
            after = self._ledger.port.lines_of_borrower(tx, actor.subject, LINES_VERIFIED_MAX)
            status = {line.id: line.status.value for line in after}
            return Verified(verification_id, kind, verdict, restored, status)

        return self._commands.run(actor, key, request, work, _verified_document, core=True)

    def _verdict(
        self, kind: str, evidence: dict[str, Any], now: dt.datetime, currencies: set[str]
    ) -> Verdict:
        verdict = self._verifier.verify(kind, evidence, self._decisions.business_date(now))
        if verdict.accepted and verdict.currency is not None and verdict.currency not in currencies:
            return Verdict(False, f"the borrower has no line in {verdict.currency}", "currency")
        return verdict

    def _record(
        self,
        tx: Transaction,
        actor: Actor,
        verification_id: str,
        kind: str,
        verdict: Verdict,
        evidence: dict[str, Any],
        now: dt.datetime,
    ) -> None:
        tx.execute(
            self._insert,
            {
                "id": verification_id,
                "borrower_id": actor.subject,
                "kind": kind,
                "status": "accepted" if verdict.accepted else "rejected",
                "problem": verdict.problem,
                "income_monthly_minor": verdict.income_monthly_minor,
                "currency": verdict.currency,
                "expires_on": tx.date(verdict.expires_on),
                "verifier": self._verifier.name,
                "evidence": json.dumps(evidence, sort_keys=True),
                "created_at": tx.time(now),
            },
        )

    def _restore(
        self, tx: Transaction, lines: list[Line], kind: str, only: str | None
    ) -> list[dict[str, Any]]:
        """Decide each line suspended for what this verification answers, on features that
        see the verification just recorded; restore it unless a rule still suspends it."""
        step = KINDS[kind]
        outcomes = []
        for listed in lines:
            if listed.status is not LineStatus.SUSPENDED or only not in (None, listed.id):
                continue
            line = self._ledger.port.lock(tx, REVIEWER, listed.id)
            if not any(REASON_CATALOGUE[c].next_step is step for c in self._reasons(tx, line)):
                continue
            decision = self._decisions.decide_in(tx, line.id)
            if decision.action == "suspend":
                codes = list(decision.reason_codes)
                outcomes.append(
                    {"line_id": line.id, "outcome": "still_suspended", "reason_codes": codes}
                )
                continue
            restore = LimitChange(
                Action.RESTORE, ("verification_completed",), policy_version=decision.policy
            )
            record = self._ledger.port.decide(tx, REVIEWER, line, restore, decision.evidence())[1]
            after = self._decisions.review_in(tx, line.id)  # whatever else the policy says
            outcomes.append(
                {
                    "line_id": line.id,
                    "outcome": "restored",
                    "decision_id": record.id,
                    "then": after.decision.action,
                }
            )
        return outcomes

    def _reasons(self, tx: Transaction, line: Line) -> list[str]:
        """The catalogued reasons of the decision that suspended the line."""
        if line.status_decision_id is None:
            return []
        found = self._ledger.port.decision(tx, line, line.status_decision_id)
        codes = () if found is None else found.record.reason_codes
        return [c for c in codes if c in REASON_CATALOGUE]


def checked_evidence(kind: str, evidence: object) -> None:
    """Refuse evidence that is not what `kind` carries: an object of at most 16 KB with only
    the kind's fields, each a short text without control characters."""
    if not isinstance(evidence, dict):
        raise InvalidEvidence("evidence must be an object")
    size = len(json.dumps(evidence, ensure_ascii=False).encode())
    if size > EVIDENCE_BYTES_MAX:
        raise InvalidEvidence(
            f"evidence is {size} bytes; at most {EVIDENCE_BYTES_MAX}", bytes_max=EVIDENCE_BYTES_MAX
        )
    unknown = sorted(set(evidence) - EVIDENCE_FIELDS[kind])
    if unknown:
        raise InvalidEvidence(
            f"{kind} evidence has no field {', '.join(unknown)}",
            fields=sorted(EVIDENCE_FIELDS[kind]),
        )
    for name, value in evidence.items():
        try:
            checked_text(value, f"evidence.{name}", _FIELD_LENGTH_MAX)
        except InvalidInput as refused:
            raise InvalidEvidence(refused.message, field=f"evidence.{name}") from None


def _line_to_tell(lines: list[Line]) -> str:
    suspended = [line for line in lines if line.status is LineStatus.SUSPENDED]
    return (suspended or lines)[0].id


def _verified_document(verified: Verified) -> dict[str, Any]:
    verdict = verified.verdict
    income = verdict.income_monthly_minor
    return {
        "id": verified.verification_id,
        "kind": verified.kind,
        "status": "accepted" if verdict.accepted else "rejected",
        "problem": verdict.problem,
        "problem_code": verdict.problem_code,
        "income_monthly": None
        if income is None or verdict.currency is None
        else format_minor(income, verdict.currency),
        "expires_on": None if verdict.expires_on is None else verdict.expires_on.isoformat(),
        "lines": verified.lines,
        "line_status": verified.line_status,
    }
