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
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.service import REVIEWER, DecisionService
from creditline.decisions.tables import verifications
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Conflict, Forbidden, IdempotencyKeyReused, InvalidInput
from creditline.kernel.ids import new_id
from creditline.kernel.money import Money, format_minor
from creditline.kernel.reasons import REASON_CATALOGUE, NextStep
from creditline.ledger.service import LedgerService
from creditline.notices.outbox import Topic

KINDS = {"identity": NextStep.VERIFY_IDENTITY, "income": NextStep.UPDATE_INCOME}
EVIDENCE_VALIDITY_DAYS_MAX = 400  # income evidence is good for about a year at most
_FIELD_LENGTH_MAX = 128


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

    def verify(self, kind: str, evidence: dict[str, Any], today: dt.date) -> Verdict: ...


class DevelopmentVerifier:
    """Accepts evidence that is complete and in date; for development and tests only.

    identity: {document_type: id_card | passport, document_number, full_name}
    income: {income_monthly: "12000.00", currency, document_id, issued_on, expires_on}
    """

    name = "development"

    def verify(self, kind: str, evidence: dict[str, Any], today: dt.date) -> Verdict:
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


class Verifications:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: LedgerService,
        decisions: DecisionService,
        verifier: Verifier,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._decisions = decisions
        self._verifier = verifier
        insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        self._insert = db.prepare(insert(verifications).on_conflict_do_nothing())

    def submit(
        self,
        actor: Actor,
        key: str,
        kind: str,
        evidence: dict[str, Any],
        line_id: str | None = None,
    ) -> dict[str, Any]:
        """Verify the evidence; restore the lines it answers. Replays answer the same."""
        if kind not in KINDS:
            raise InvalidInput("kind must be identity or income")
        if actor.role is not Role.BORROWER:
            raise Forbidden("a borrower sends their own evidence")
        lines = self._ledger.list_lines(actor)["lines"]
        if line_id is not None and line_id not in {line["id"] for line in lines}:
            self._ledger.get_line(actor, line_id)  # answers line_not_found the usual way
        if not lines:
            raise Conflict("there is no line to verify for")
        request_hash = _fingerprint(kind, evidence)
        stored = self._stored(actor.subject, key)
        if stored is not None:
            if stored["request_hash"] != request_hash:
                raise IdempotencyKeyReused("this key was used for other evidence")
            return self._answer(actor, stored, [])
        now = self._clock.now()
        verdict = self._verifier.verify(kind, evidence, self._decisions.business_date(now))
        if (
            verdict.accepted
            and verdict.currency is not None
            and verdict.currency not in {line["currency"] for line in lines}
        ):
            verdict = Verdict(False, f"the borrower has no line in {verdict.currency}", "currency")
        verification_id = new_id()
        notified = line_id or self._line_to_tell(lines)

        def work(tx: Transaction) -> None:
            tx.execute(
                self._insert,
                {
                    "id": verification_id,
                    "borrower_id": actor.subject,
                    "request_key": key,
                    "kind": kind,
                    "status": "accepted" if verdict.accepted else "rejected",
                    "problem": verdict.problem,
                    "income_monthly_minor": verdict.income_monthly_minor,
                    "currency": verdict.currency,
                    "expires_on": tx.date(verdict.expires_on),
                    "verifier": self._verifier.name,
                    "evidence": json.dumps(
                        {"request_hash": request_hash, "evidence": evidence}, sort_keys=True
                    ),
                    "created_at": tx.time(now),
                },
            )
            if not verdict.accepted:
                self._ledger.port.queue_notice(
                    tx,
                    Topic.VERIFICATION_FAILED,
                    notified,
                    verification_id,
                    {
                        "verification": verification_id,
                        "kind": kind,
                        "problem": verdict.problem,
                        "problem_code": verdict.problem_code,
                    },
                )

        self._db.run(work)
        stored = self._stored(actor.subject, key)
        assert stored is not None
        if stored["id"] != verification_id:  # a racing twin with the same key won
            return self._answer(actor, stored, [])
        restored = self._restore(lines, kind, line_id) if verdict.accepted else []
        return self._answer(actor, stored, restored)

    def _restore(
        self, lines: list[dict[str, Any]], kind: str, only: str | None
    ) -> list[dict[str, Any]]:
        """Decide each line suspended for what this verification answers; restore it unless a
        rule still suspends it."""
        step = KINDS[kind]
        outcomes = []
        for line in lines:
            if line["status"] != "suspended" or (only is not None and line["id"] != only):
                continue
            reasons = self._suspension_reasons(line)
            if not any(REASON_CATALOGUE[c].next_step is step for c in reasons):
                continue
            decision = self._decisions.decide_line(line["id"])
            if decision.action == "suspend":
                outcomes.append({"line_id": line["id"], "outcome": "still_suspended",
                                 "reason_codes": list(decision.reason_codes)})  # fmt: skip
                continue
            result = self._ledger.change_limit(
                REVIEWER,
                f"verification:{line['id']}:{line['status_decision_id']}",
                line["id"],
                "restore",
                ["verification_completed"],
                policy_version=decision.policy,
                evidence=decision.evidence(),
            )
            after = self._decisions.review_line(line["id"])  # whatever else the policy says
            outcomes.append(
                {
                    "line_id": line["id"],
                    "outcome": "restored",
                    "decision_id": result.document["decision"]["id"],
                    "then": after.decision.action,
                }
            )
        return outcomes

    def _suspension_reasons(self, line: dict[str, Any]) -> list[str]:
        decision_id = line["status_decision_id"]
        if decision_id is None:
            return []
        found = self._decisions.get_decision(REVIEWER, decision_id)
        return [c for c in found["reason_codes"] if c in REASON_CATALOGUE]

    @staticmethod
    def _line_to_tell(lines: list[dict[str, Any]]) -> str:
        suspended = [line for line in lines if line["status"] == "suspended"]
        return str((suspended or lines)[0]["id"])

    def _stored(self, borrower_id: str, key: str) -> dict[str, Any] | None:
        with self._db.reading() as connection:
            row = (
                connection.execute(
                    select(verifications).where(
                        verifications.c.borrower_id == borrower_id,
                        verifications.c.request_key == key,
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        return {**row, "request_hash": json.loads(row["evidence"])["request_hash"]}

    def _answer(
        self, actor: Actor, stored: dict[str, Any], restored: list[dict[str, Any]]
    ) -> dict[str, Any]:
        expires = Transaction.read_date(stored["expires_on"])
        income = stored["income_monthly_minor"]
        return {
            "id": stored["id"],
            "kind": stored["kind"],
            "status": stored["status"],
            "problem": stored["problem"],
            "income_monthly": None if income is None else format_minor(income, stored["currency"]),
            "expires_on": None if expires is None else expires.isoformat(),
            "lines": restored,
            "line_status": {
                line["id"]: line["status"] for line in self._ledger.list_lines(actor)["lines"]
            },
        }


def _fingerprint(kind: str, evidence: dict[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, "evidence": evidence}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
