"""Human review: a borrower can ask a person to look at an automated decision (CN-7, EU-3).

A review a borrower asks for is decided by the policy first (`DecisionService.request_review`).
When they ask for a person (`human`), or contest (`contest`) an adverse decision the automatic
review upheld, a human review opens with a deadline from the line's jurisdiction profile and
the borrower is told. Staff work the queue by deadline (overdue reviews flagged) and decide:
uphold (with the reasons that still hold), reverse (the contested change is undone through the
ledger) or modify (a new limit through the ledger). Each step notifies the borrower in the same
transaction as the step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.service import DecisionService
from creditline.decisions.tables import reviews
from creditline.kernel.actors import STAFF_ROLES, Actor, Role
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from creditline.kernel.ids import is_id, new_id
from creditline.kernel.money import Money
from creditline.kernel.reasons import REASON_CATALOGUE
from creditline.kernel.text import checked_text
from creditline.ledger.service import LedgerService
from creditline.loans.products import Catalogue
from creditline.notices.outbox import Topic

OUTCOMES = ("uphold", "reverse", "modify")
DECIDERS = frozenset({Role.AGENT, Role.APPROVER, Role.ADMIN})
REASON_TEXT_LENGTH_MAX = 2000
REVIEWS_LISTED_MAX = 200
# How each contested change is undone when a review reverses it.
_REVERSAL = {"freeze": "unfreeze", "suspend": "restore", "decrease": "increase"}


class ReviewNotFound(NotFound):
    code = "review_not_found"


class ReviewAlreadyDecided(Conflict):
    code = "review_already_decided"


class Appeals:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: LedgerService,
        decisions: DecisionService,
        catalogue: Catalogue,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._decisions = decisions
        self._catalogue = catalogue
        self._insert = db.prepare(insert(reviews))
        self._decide = db.prepare(
            update(reviews)
            .where(reviews.c.id == bindparam("id"), reviews.c.outcome == "open")
            .values(
                outcome=bindparam("outcome"),
                decided_by=bindparam("decided_by"),
                decided_at=bindparam("decided_at"),
                note=bindparam("note"),
                decision_id=bindparam("decision_id"),
            )
        )

    def request(
        self,
        actor: Actor,
        line_id: str,
        *,
        human: bool = False,
        contest: bool = False,
        reason_text: str | None = None,
    ) -> dict[str, Any]:
        """The automatic review first; then a human review when asked for or contested."""
        if reason_text is not None:
            reason_text = checked_text(reason_text, "reason_text", REASON_TEXT_LENGTH_MAX)
        document = self._decisions.request_review(actor, line_id)
        document["human_review"] = None
        if not (human or contest):
            return document
        line = self._ledger.get_line(actor, line_id)
        contested = self._standing_adverse(actor, line)
        if contested is None and not human:
            return document  # the automatic review left nothing adverse to contest
        open_one = self._open_review(line["id"])
        if open_one is not None:
            document["human_review"] = _review_document(open_one, self._clock.now())
            return document
        now = self._clock.now()
        due = now + timedelta(days=self._review_days(line["currency"]))
        review_id = new_id()

        def work(tx: Transaction) -> None:
            tx.execute(
                self._insert,
                {
                    "id": review_id,
                    "line_id": line["id"],
                    "borrower_id": line["borrower_id"],
                    "requested_by": actor.subject,
                    "created_at": tx.time(now),
                    "decision_id": None,
                    "outcome": "open",
                    "kind": "human",
                    "reason_text": reason_text,
                    "due_at": tx.time(due),
                    "contested_decision_id": None if contested is None else contested["id"],
                    "decided_by": None,
                    "decided_at": None,
                    "note": None,
                },
            )
            self._ledger.port.queue_notice(
                tx,
                Topic.REVIEW_OPENED,
                line["id"],
                review_id,
                {"review": review_id, "due_at": due.isoformat(), "reason_text": reason_text},
            )

        self._db.run(work)
        document["human_review"] = self.get(actor, review_id)
        return document

    def open_review_of(self, line_id: str) -> dict[str, Any] | None:
        """The line's open human review, if it has one."""
        row = self._open_review(line_id)
        return None if row is None else _review_document(row, self._clock.now())

    def queue(self, actor: Actor, status: str = "open", limit: int = 50) -> dict[str, Any]:
        """Human reviews by deadline, soonest first; overdue ones are flagged (staff)."""
        if actor.role not in STAFF_ROLES:
            raise Forbidden("the review queue is for staff")
        if status not in ("open", "decided"):
            raise InvalidInput("status must be open or decided")
        if not 1 <= limit <= REVIEWS_LISTED_MAX:
            raise InvalidInput(f"limit must be 1–{REVIEWS_LISTED_MAX}")
        query = select(reviews).where(reviews.c.kind == "human")
        query = (
            query.where(reviews.c.outcome == "open")
            if status == "open"
            else query.where(reviews.c.outcome != "open")
        )
        with self._db.reading() as connection:
            rows = list(
                connection.execute(
                    query.order_by(reviews.c.due_at, reviews.c.id).limit(limit)
                ).mappings()
            )
        now = self._clock.now()
        listed = [_review_document(row, now) for row in rows]
        return {
            "reviews": listed,
            "overdue": sum(1 for review in listed if review["overdue"]),
        }

    def get(self, actor: Actor, review_id: str) -> dict[str, Any]:
        """One human review: the borrower's own, or any for staff."""
        row = self._row(review_id)
        if row is None or (actor.role is Role.BORROWER and row["borrower_id"] != actor.subject):
            raise ReviewNotFound("no such review", review_id=review_id)
        return _review_document(row, self._clock.now())

    def decide(
        self,
        actor: Actor,
        review_id: str,
        outcome: str,
        reason_codes: list[str],
        note: str | None = None,
        limit: str | None = None,
    ) -> dict[str, Any]:
        """A person's decision on a review; a reversal or a new limit goes through the ledger."""
        if actor.role not in DECIDERS:
            raise Forbidden(f"role {actor.role.value} may not decide reviews")
        if outcome not in OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}")
        if note is not None:
            note = checked_text(note, "note", REASON_TEXT_LENGTH_MAX)
        row = self._row(review_id)
        if row is None:
            raise ReviewNotFound("no such review", review_id=review_id)
        if row["outcome"] != "open":
            raise ReviewAlreadyDecided("the review was decided already", review_id=review_id)
        if (outcome == "modify") != (limit is not None):
            raise InvalidInput("a new `limit` goes with modify, and only with it")
        line = self._ledger.get_line(actor, row["line_id"])
        contested = None
        if row["contested_decision_id"] is not None:
            contested = self._decisions.get_decision(actor, row["contested_decision_id"])
        codes = self._reasons(outcome, reason_codes, contested)
        # The change is the reviewer's, made on the review's authority: the record names them.
        reviewer = Actor(f"human-review:{actor.subject}", Role.SERVICE)
        key = f"review-decision:{review_id}"
        decision_id = None
        if outcome == "reverse":
            decision_id = self._reverse(reviewer, key, line, contested, note)
        elif outcome == "modify":
            assert limit is not None
            decision_id = self._modify(reviewer, key, line, limit, codes, note)
        now = self._clock.now()
        decision_payload = {
            "id": decision_id or (contested or {}).get("id"),
            "action": "review",
            "reason_codes": codes,
            # An upheld freeze still ends on its date: the notice says so.
            "until": (contested or {}).get("until") if outcome == "uphold" else None,
        }

        def work(tx: Transaction) -> None:
            tx.execute(
                self._decide,
                {
                    "id": review_id,
                    "outcome": outcome,
                    "decided_by": actor.subject,
                    "decided_at": tx.time(now),
                    "note": note,
                    "decision_id": decision_id,
                },
            )
            self._ledger.port.queue_notice(
                tx,
                Topic.REVIEW_DECIDED,
                row["line_id"],
                review_id,
                {
                    "review": review_id,
                    "outcome": outcome,
                    "note": note,
                    "decision": decision_payload,
                },
            )

        self._db.run(work)
        return self.get(actor, review_id)

    # --- helpers ----------------------------------------------------------------------------
    def _reasons(
        self, outcome: str, reason_codes: list[str], contested: dict[str, Any] | None
    ) -> list[str]:
        if not isinstance(reason_codes, list) or not all(isinstance(c, str) for c in reason_codes):
            raise InvalidInput("reason_codes must be a list of codes")
        unknown = [c for c in reason_codes if c not in REASON_CATALOGUE]
        if unknown:
            raise InvalidInput(f"unknown reason codes: {', '.join(unknown)}", unknown=unknown)
        if outcome == "reverse":
            return ["review_upheld_appeal"]
        if outcome == "uphold" and not reason_codes:
            if contested is None:
                raise InvalidInput("say which reasons hold: reason_codes")
            return list(contested["reason_codes"])  # the contested decision's reasons stand
        return reason_codes  # modify: a cut needs its reasons (checked with the new limit)

    def _reverse(
        self,
        reviewer: Actor,
        key: str,
        line: dict[str, Any],
        contested: dict[str, Any] | None,
        note: str | None,
    ) -> str:
        if contested is None or contested["action"] not in _REVERSAL:
            raise Conflict("there is no adverse change to reverse on this review")
        action = _REVERSAL[contested["action"]]
        options: dict[str, Any] = {}
        if action == "increase":
            options["limit"] = contested["limit_before"]
        elif line["status"] == "active":
            raise Conflict("the line is active again already; nothing to reverse")
        result = self._ledger.change_limit(
            reviewer, key, line["id"], action, ["review_upheld_appeal"], note=note, **options
        )
        return str(result.document["decision"]["id"])

    def _modify(
        self,
        reviewer: Actor,
        key: str,
        line: dict[str, Any],
        limit: str,
        codes: list[str],
        note: str | None,
    ) -> str:
        current = self._ledger.get_line(reviewer, line["id"])
        new = Money.parse(limit, current["currency"]).minor
        old = Money.parse(current["limit"], current["currency"]).minor
        if new == old:
            raise InvalidInput("the new limit is the limit the line has")
        action = "increase" if new > old else "decrease"
        if action == "decrease" and not codes:
            raise InvalidInput("reason_codes: a lower limit needs the reasons for it")
        reasons = ["review_upheld_appeal"] if action == "increase" else codes
        result = self._ledger.change_limit(
            reviewer, key, line["id"], action, reasons, limit=limit, note=note
        )
        return str(result.document["decision"]["id"])

    def _standing_adverse(self, actor: Actor, line: dict[str, Any]) -> dict[str, Any] | None:
        """The adverse decision that still holds on the line, if any."""
        if line["status"] in ("frozen", "suspended") and line["status_decision_id"]:
            return self._decisions.get_decision(actor, line["status_decision_id"])
        latest = self._decisions.line_decisions(actor, line["id"], 1)["decisions"]
        return latest[0] if latest and latest[0]["adverse"] else None

    def _open_review(self, line_id: str) -> Any:
        with self._db.reading() as connection:
            return (
                connection.execute(
                    select(reviews).where(
                        reviews.c.line_id == line_id,
                        reviews.c.kind == "human",
                        reviews.c.outcome == "open",
                    )
                )
                .mappings()
                .first()
            )

    def _row(self, review_id: str) -> Any:
        if not is_id(review_id):
            return None
        with self._db.reading() as connection:
            return (
                connection.execute(
                    select(reviews).where(reviews.c.id == review_id, reviews.c.kind == "human")
                )
                .mappings()
                .first()
            )

    def _review_days(self, currency: str) -> int:
        try:
            return self._catalogue.profile_for(currency).review_days
        except DomainError:
            return 15


def _review_document(row: Any, now: datetime) -> dict[str, Any]:
    due = Transaction.read_time(row["due_at"])
    created = Transaction.read_time(row["created_at"])
    decided = Transaction.read_time(row["decided_at"])
    assert due is not None and created is not None
    is_open = row["outcome"] == "open"
    return {
        "id": row["id"],
        "line_id": row["line_id"],
        "borrower_id": row["borrower_id"],
        "status": "open" if is_open else "decided",
        "outcome": None if is_open else row["outcome"],
        "reason_text": row["reason_text"],
        "contested_decision_id": row["contested_decision_id"],
        "requested_at": created.isoformat(),
        "due_at": due.isoformat(),
        "overdue": is_open and due < now,
        "decided_by": row["decided_by"],
        "decided_at": None if decided is None else decided.isoformat(),
        "note": row["note"],
        "decision_id": row["decision_id"],
    }
