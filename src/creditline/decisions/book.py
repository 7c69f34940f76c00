"""The features a review decides on, for one line or the whole book.

The ledger's facts (balances, drawdowns, limit changes) and the loans' repayment record come
through their ports; the borrower's latest application, income verification, review requests
and bureau report are the decisions capability's own. What is unknown is null, which the
policy scores as "missing".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, case, func, select

from creditline.db.unit_of_work import Database
from creditline.decisions.attributes import LenderAttribute, read_together, stored_values
from creditline.decisions.bureau import BureauPort
from creditline.decisions.declared import application_features, with_report
from creditline.decisions.policy import PolicyDocument
from creditline.decisions.tables import reviews
from creditline.ledger.ports import LineFacts, line_facts
from creditline.loans.ports import RepaymentFacts, repayment_facts

BORROWERS_PER_QUERY_MAX = 10_000  # a statement binds at most 65,535 parameters on PostgreSQL
_DAY = timedelta(days=1)
_NO_LOANS = RepaymentFacts(0, 0, 0, 0, 0, None)
T = TypeVar("T")


def book_features(
    connection: Connection,
    now: datetime,
    today: date,
    bureau: BureauPort,
    line_ids: list[str] | None = None,
    currency: str | None = None,
    attributes: list[LenderAttribute] | None = None,
) -> list[dict[str, Any]]:
    """Each reviewable line's features (only `line_ids`, or lines in `currency`, when given),
    by line id, with the stored values of the lender's `attributes` (a policy's). `today` is
    the lender's business date."""
    return book_features_and_owners(connection, now, today, bureau, line_ids, currency, attributes)[
        0
    ]


def book_features_and_owners(
    connection: Connection,
    now: datetime,
    today: date,
    bureau: BureauPort,
    line_ids: list[str] | None = None,
    currency: str | None = None,
    attributes: list[LenderAttribute] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """`book_features`, and each line's borrower by line id (whom a change would affect)."""
    registered = {a.name: a for a in attributes or []}
    lines = line_facts(connection, now, line_ids, currency)
    record = repayment_facts(connection, today, line_ids)
    borrowers = sorted({line.borrower_id for line in lines})
    asked: dict[str, tuple[int, int]] = {}
    reports: dict[str, dict[str, Any]] = {}
    declared: dict[str, dict[str, Any]] = {}
    lender: dict[str, dict[str, Any]] = {}
    # The whole book's borrowers are read unfiltered: every borrower is wanted, and binding
    # them all costs more than the few rows of others (docs/performance.md §8).
    groups = [None] if line_ids is None else chunks(borrowers, BORROWERS_PER_QUERY_MAX)
    for chunk in groups:
        lender.update(stored_values(connection, chunk, registered))
        asked.update(_review_requests(connection, chunk, now))
        reports.update(bureau.latest(connection, chunk))
        declared.update(application_features(connection, chunk, now, today))
    features = [
        {
            **_line_features(line, record.get(line.line_id, _NO_LOANS), now, today),
            **_requests(asked.get(line.borrower_id, (0, 0))),
            **with_report(declared.get(line.borrower_id, {}), reports.get(line.borrower_id, {})),
            **lender.get(line.borrower_id, {}),
        }
        for line in lines
    ]
    return features, {line.line_id: line.borrower_id for line in lines}


def todays_book(
    db: Database,
    policy: PolicyDocument,
    now: datetime,
    bureau: BureauPort,
    beside: PolicyDocument | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The features of every line `policy` decides (its currency's), with the lender
    attributes it reads and those the version decided `beside` it reads, in one consistent
    read; and each line's borrower."""
    others = [] if beside is None else [beside.attributes]
    with db.reading() as connection:
        return book_features_and_owners(
            connection,
            now,
            policy.business_date(now),
            bureau,
            currency=policy.currency,
            attributes=read_together([policy.attributes, *others]),
        )


def _line_features(
    line: LineFacts, record: RepaymentFacts, now: datetime, today: date
) -> dict[str, Any]:
    return {
        "line_id": line.line_id,
        "limit_minor": line.limit_minor,
        "used_minor": line.used_minor,
        "utilisation": line.used_minor / line.limit_minor if line.limit_minor else 0.0,
        "drawdowns_7d": line.drawdowns_7d,
        "drawdowns_30d": line.drawdowns_30d,
        "drawdowns_90d": line.drawdowns_90d,
        "on_time_ratio": record.on_time_ratio,
        "max_dpd_12m": record.max_dpd_12m(today),
        "dpd": record.dpd,
        "months_on_book": _months_between(line.opened_at, now),
        "settled_loans": record.settled_loans,
        "days_since_limit_change": (now - line.limit_changed_at).days,
        "days_since_cut": None if line.cut_at is None else (now - line.cut_at).days,
    }


def _requests(counts: tuple[int, int]) -> dict[str, int]:
    return {"increase_requests_7d": counts[0], "increase_requests_30d": counts[1]}


def _review_requests(
    connection: Connection, borrower_ids: list[str] | None, now: datetime
) -> dict[str, tuple[int, int]]:
    """Per borrower (`borrower_ids`, or every borrower when None): the reviews they asked for
    in the last 7 and 30 days."""
    of_borrowers = [] if borrower_ids is None else [reviews.c.borrower_id.in_(borrower_ids)]
    query = (
        select(
            reviews.c.borrower_id,
            func.sum(case((reviews.c.created_at >= now - 7 * _DAY, 1), else_=0)),
            func.count(),
        )
        .where(reviews.c.created_at >= now - 30 * _DAY, *of_borrowers)
        .group_by(reviews.c.borrower_id)
    )
    return {row[0]: (int(row[1] or 0), int(row[2])) for row in connection.execute(query)}


def _months_between(start: datetime, end: datetime) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - (1 if end.day < start.day else 0)


def chunks(items: list[T], size: int) -> Iterable[list[T]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
