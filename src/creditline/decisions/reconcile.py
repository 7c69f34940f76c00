"""The reviews' side of the books: every decided review and the decision it made point at
each other.

- a review that names a decision names one the ledger recorded;
- every decision made on a human review's authority (actor `human-review:…`) is named by
  the review that made it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from creditline.decisions.tables import reviews
from creditline.kernel.actors import HUMAN_REVIEWER_PREFIX
from creditline.ledger.ports import Finding, decision_lines


def review_checks(connection: Connection) -> Iterable[Finding]:
    """Every finding on the reviews' side of the books."""
    recorded = decision_lines(connection)
    named = set()
    query = select(reviews.c.id, reviews.c.line_id, reviews.c.decision_id).where(
        reviews.c.decision_id.is_not(None)
    )
    for review_id, line_id, decision_id in connection.execute(query):
        named.add(decision_id)
        if recorded.get(decision_id) != line_id:
            yield Finding(
                "review_decision_recorded",
                line_id,
                f"review {review_id} names decision {decision_id}, which this line lacks",
            )
    for decision_id, line_id in decision_lines(connection, HUMAN_REVIEWER_PREFIX).items():
        if decision_id not in named:
            yield Finding(
                "review_decision_recorded",
                line_id,
                f"decision {decision_id} was made on a human review that does not name it",
            )
