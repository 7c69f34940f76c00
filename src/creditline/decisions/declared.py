"""What a borrower's applications say, as features: the latest application's declarations,
how many they made lately, and the income a later accepted verification replaced."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, case, func, select

from creditline.db.unit_of_work import Transaction
from creditline.decisions.tables import applications, verifications
from creditline.kernel.invariant import fail

_DAY = dt.timedelta(days=1)


def application_features(
    connection: Connection,
    borrower_ids: list[str] | None,
    now: dt.datetime,
    today: dt.date,
    currency: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Per borrower (`borrower_ids`, or every borrower when None): the latest application's
    features and how many they made lately; a later accepted income verification replaces the
    declared income and its evidence. With `currency`, only income stated in it counts (an
    amount in another currency says nothing)."""
    if borrower_ids is not None and not borrower_ids:
        return {}
    in_currency = [] if currency is None else [applications.c.currency == currency]
    of_borrowers = _of(applications.c.borrower_id, borrower_ids)
    counts = connection.execute(
        select(
            applications.c.borrower_id,
            func.sum(case((applications.c.created_at >= now - 7 * _DAY, 1), else_=0)),
            func.sum(case((applications.c.created_at >= now - 30 * _DAY, 1), else_=0)),
        )
        .where(*of_borrowers)
        .group_by(applications.c.borrower_id)
    ).all()
    ranked = (
        select(
            applications,
            func.row_number()
            .over(
                partition_by=applications.c.borrower_id,
                order_by=(applications.c.created_at.desc(), applications.c.id.desc()),
            )
            .label("newest_first"),
        )
        .where(*of_borrowers, *in_currency)
        .subquery()
    )
    latest = {
        row["borrower_id"]: row
        for row in connection.execute(select(ranked).where(ranked.c.newest_first == 1))
        .mappings()
        .all()
    }
    found: dict[str, dict[str, Any]] = {}
    for borrower, in_7d, in_30d in counts:
        found[borrower] = {
            "applications_7d": int(in_7d or 0),
            "applications_30d": int(in_30d or 0),
            **(declared_features(latest[borrower], today) if borrower in latest else {}),
        }
    for borrower, verified in verified_income(connection, borrower_ids, today, currency).items():
        found[borrower] = {**found.get(borrower, {}), **verified}
    return found


def verified_income(
    connection: Connection,
    borrower_ids: list[str] | None,
    today: dt.date,
    currency: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Per borrower (`borrower_ids`, or every borrower when None), the income features of
    their latest accepted income verification (they replace what the application declared),
    in `currency` when given."""
    if borrower_ids is not None and not borrower_ids:
        return {}
    in_currency = [] if currency is None else [verifications.c.currency == currency]
    latest = (
        select(verifications.c.borrower_id, func.max(verifications.c.created_at).label("at"))
        .where(
            *_of(verifications.c.borrower_id, borrower_ids),
            verifications.c.kind == "income",
            verifications.c.status == "accepted",
            *in_currency,
        )
        .group_by(verifications.c.borrower_id)
        .subquery()
    )
    rows = connection.execute(
        select(verifications).join(
            latest,
            (latest.c.borrower_id == verifications.c.borrower_id)
            & (latest.c.at == verifications.c.created_at),
        )
    ).mappings()
    found = {}
    for row in rows:
        # Accepted income evidence has an end date.
        expires = Transaction.read_date(row["expires_on"]) or fail("income evidence without end")
        found[row["borrower_id"]] = {
            "income_monthly_minor": row["income_monthly_minor"],
            "income_evidence": expires >= today,
            "days_to_income_evidence_expiry": (expires - today).days,
        }
    return found


def _of(column: Any, borrower_ids: list[str] | None) -> list[Any]:
    """The condition that keeps `borrower_ids`' rows (none: every borrower's). A whole book is
    read unfiltered: 10,000 bound ids cost more to send and plan than the rows they leave out
    (docs/performance.md §8)."""
    return [] if borrower_ids is None else [column.in_(borrower_ids)]


def declared_features(row: Any, today: dt.date) -> dict[str, Any]:
    expires = row["income_evidence_expires_on"]
    expires = Transaction.read_date(expires) if expires is not None else None
    birth = Transaction.read_date(row["birth_date"]) or fail("an application without birth date")
    return {
        "income_monthly_minor": row["income_monthly_minor"],
        "income_evidence": bool(row["income_evidence"]) and (expires is None or expires >= today),
        "days_to_income_evidence_expiry": None if expires is None else (expires - today).days,
        "age": age_on(birth, today),
        "employment": row["employment"],
        "obligations_monthly_minor": row["obligations_monthly_minor"],
    }


def with_report(declared: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """A borrower's declared features overlaid by their latest bureau report; obligations the
    bureau does not report stay as the application stated them."""
    merged = {**declared, **report}
    if merged.get("obligations_monthly_minor") is None:
        merged["obligations_monthly_minor"] = declared.get("obligations_monthly_minor")
    return merged


def age_on(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
