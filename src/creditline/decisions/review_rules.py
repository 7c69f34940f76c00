"""What a borrower asks of a review, and what a reviewer's outcome names, checked before the
command's transaction.

A borrower asks for a person or not, may name the decision about their line a person should
review (any decision: by default the adverse one that still holds), and may give their own
view of it (GDPR Art. 22(3), CCD 2023/2225 Art. 18(8)): the view is stored with the review for
the reviewer only, and never copied into a notice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from creditline.kernel.errors import InvalidInput
from creditline.kernel.reasons import REASON_CATALOGUE
from creditline.kernel.text import checked_text
from creditline.ledger.ports import StoredDecision

REASON_TEXT_LENGTH_MAX = 2000
STATEMENT_LENGTH_MAX = 4000  # the borrower's own view of the decision
DECISION_ID_LENGTH_MAX = 64


@dataclass(frozen=True, slots=True)
class Asked:
    """A review asked for. Naming a decision or giving a view asks for a person."""

    human: bool
    contest: bool
    reason_text: str | None
    statement: str | None  # the borrower's own view, for the reviewer
    decision_id: str | None  # the decision to review (default: the adverse one that holds)

    @property
    def person(self) -> bool:
        """Whether a person may review the line (asked for, or on contest)."""
        return self.human or self.contest

    def request_fields(self) -> dict[str, Any]:
        """The fields of the request that its idempotency key is checked against."""
        fields: dict[str, Any] = {"human": self.human, "contest": self.contest}
        fields["reason_text"] = self.reason_text
        if self.statement is not None or self.decision_id is not None:
            fields |= {"statement": self.statement, "decision_id": self.decision_id}
        return fields


def checked_ask(
    human: bool,
    contest: bool,
    reason_text: str | None,
    statement: str | None,
    decision_id: str | None,
) -> Asked:
    """The request, its texts bounded and free of control characters."""
    if reason_text is not None:
        reason_text = checked_text(reason_text, "reason_text", REASON_TEXT_LENGTH_MAX)
    if statement is not None:
        statement = checked_text(statement, "statement", STATEMENT_LENGTH_MAX, multiline=True)
    if decision_id is not None:
        checked_text(decision_id, "decision_id", DECISION_ID_LENGTH_MAX)
    human = human or statement is not None or decision_id is not None
    return Asked(human, contest, reason_text, statement, decision_id)


def checked_codes(reason_codes: object) -> None:
    """A reviewer's reason codes: a list of catalogue codes."""
    if not isinstance(reason_codes, list) or not all(isinstance(c, str) for c in reason_codes):
        raise InvalidInput("reason_codes must be a list of codes")
    unknown = [c for c in reason_codes if c not in REASON_CATALOGUE]
    if unknown:
        raise InvalidInput(f"unknown reason codes: {', '.join(unknown)}", unknown=unknown)


def reasons_of_outcome(
    outcome: str, reason_codes: list[str], contested: StoredDecision | None
) -> list[str]:
    """The reasons a reviewer's outcome names: a reversal's own, the contested decision's when
    an uphold names none, else the reviewer's."""
    if outcome == "reverse":
        return ["review_upheld_appeal"]
    if outcome == "uphold" and not reason_codes:
        if contested is None:
            raise InvalidInput("say which reasons hold: reason_codes")
        return list(contested.record.reason_codes)  # the contested decision's reasons stand
    return reason_codes  # modify: a cut needs its reasons (checked with the new limit)
