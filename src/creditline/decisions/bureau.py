"""The credit-bureau port: consent first, then reports; decisions read the latest report.

`BureauPort` is what the decision engine asks of a bureau. `StoredReports`, the one adapter in
the box, reads reports loaded into our database (API or CLI); a client of a real bureau can
implement the same port later. A report can only be loaded for a borrower with a consent on
record that has not been revoked (CN-8, US-4): a pull without consent is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, and_, bindparam, func, insert, select

from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.tables import bureau_reports, consents
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Conflict, Forbidden, InvalidInput
from creditline.kernel.ids import new_id
from creditline.kernel.text import checked_text

BUREAU_FEATURES = (
    "inquiries_1m",
    "inquiries_3m",
    "inquiries_6m",
    "lenders_with_open_loans",
    "other_limits_minor",
    "bureau_score",
)
_COUNT_MAX = 10**12
REPORT_AGE_MAX = timedelta(days=3660)  # a report older than ten years says nothing now
_LOADERS = frozenset({Role.AGENT, Role.ADMIN, Role.SERVICE})
_ACTIVE_CONSENT = (
    select(consents.c.id, consents.c.granted_at)
    .where(
        consents.c.borrower_id == bindparam("borrower_id"),
        consents.c.purpose == "credit_bureau",
        consents.c.revoked_at.is_(None),
        consents.c.granted_at <= bindparam("at"),
    )
    .order_by(consents.c.granted_at.desc())
    .limit(1)
)


class ConsentMissing(Conflict):
    code = "consent_missing"


class BureauPort(Protocol):
    def latest(self, connection: Connection, borrower_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The newest report's features for each borrower that has one."""
        ...


class StoredReports:
    """Reports loaded into creditline's own database."""

    def latest(self, connection: Connection, borrower_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not borrower_ids:
            return {}
        newest = (
            select(bureau_reports.c.borrower_id, func.max(bureau_reports.c.reported_at).label("at"))
            .where(bureau_reports.c.borrower_id.in_(borrower_ids))
            .group_by(bureau_reports.c.borrower_id)
            .subquery()
        )
        rows = connection.execute(
            select(bureau_reports).join(
                newest,
                and_(
                    newest.c.borrower_id == bureau_reports.c.borrower_id,
                    newest.c.at == bureau_reports.c.reported_at,
                ),
            )
        ).mappings()
        return {row["borrower_id"]: {name: row[name] for name in BUREAU_FEATURES} for row in rows}


@dataclass(frozen=True, slots=True)
class BureauService:
    db: Database
    clock: Clock

    def record_consent(self, actor: Actor, borrower_id: str) -> dict[str, Any]:
        """A borrower's consent to pull their credit report (by the borrower, or staff for them).

        Consent is a state: while one is active, recording it again returns the same consent.
        """
        borrower_id = _borrower(actor, borrower_id)
        consent_id = new_id()
        now = self.clock.now()
        statement = self.db.prepare(
            insert(consents).values({c.name: bindparam(c.name) for c in consents.c})
        )
        active = self.db.prepare(_ACTIVE_CONSENT)

        def work(tx: Transaction) -> dict[str, Any]:
            found = tx.one(active, {"borrower_id": borrower_id, "at": tx.time(now)})
            if found is not None:
                granted = Transaction.read_time(found[1])
                assert granted is not None
                return {
                    "id": found[0],
                    "borrower_id": borrower_id,
                    "granted_at": granted.isoformat(),
                }
            tx.execute(
                statement,
                {
                    "id": consent_id,
                    "borrower_id": borrower_id,
                    "purpose": "credit_bureau",
                    "granted_at": tx.time(now),
                    "recorded_by": actor.scope,
                    "revoked_at": None,
                },
            )
            return {"id": consent_id, "borrower_id": borrower_id, "granted_at": now.isoformat()}

        return self.db.run(work)

    def load_report(self, actor: Actor, report: dict[str, Any]) -> dict[str, Any]:
        """Store a bureau report; refused without an active consent of its borrower."""
        if actor.role not in _LOADERS:
            raise Forbidden(f"role {actor.role.value} may not load bureau reports")
        borrower_id = checked_text(report.get("borrower_id"), "borrower_id", 64)
        source = checked_text(report.get("source", "bureau"), "source", 64)
        reported_at = report.get("reported_at")
        if not isinstance(reported_at, datetime) or reported_at.tzinfo is None:
            raise InvalidInput("reported_at must be a time with a time zone")
        now = self.clock.now()
        try:
            recent = now - REPORT_AGE_MAX <= reported_at <= now
        except OverflowError:
            recent = False
        if not recent:
            raise InvalidInput(
                f"reported_at must be in the last {REPORT_AGE_MAX.days} days, not in the future"
            )
        counts = {name: _count(report.get(name), name) for name in BUREAU_FEATURES}
        unknown = sorted(set(report) - {"borrower_id", "source", "reported_at", *BUREAU_FEATURES})
        if unknown:
            raise InvalidInput(f"unknown report fields: {', '.join(unknown)}", unknown=unknown)
        report_id = new_id()
        active = self.db.prepare(_ACTIVE_CONSENT)
        statement = self.db.prepare(
            insert(bureau_reports).values({c.name: bindparam(c.name) for c in bureau_reports.c})
        )

        same = self.db.prepare(
            select(
                bureau_reports.c.id,
                bureau_reports.c.consent_id,
                *(bureau_reports.c[name] for name in BUREAU_FEATURES),
            ).where(
                bureau_reports.c.borrower_id == bindparam("borrower_id"),
                bureau_reports.c.source == bindparam("source"),
                bureau_reports.c.reported_at == bindparam("reported_at"),
            )
        )

        def work(tx: Transaction) -> dict[str, Any]:
            # A report is its borrower, source and time: loading it again returns the first.
            keys = {"borrower_id": borrower_id, "source": source}
            loaded = tx.one(same, {**keys, "reported_at": tx.time(reported_at)})
            if loaded is not None:
                stored = dict(zip(BUREAU_FEATURES, loaded[2:], strict=True))
                return {"id": loaded[0], "consent_id": loaded[1], **stored}
            # The consent must come before the pull the report is of.
            found = tx.one(active, {"borrower_id": borrower_id, "at": tx.time(reported_at)})
            if found is None:
                raise ConsentMissing(
                    "the borrower has not consented to a credit-bureau pull",
                    borrower_id=borrower_id,
                )
            tx.execute(
                statement,
                {
                    "id": report_id,
                    "borrower_id": borrower_id,
                    "consent_id": found[0],
                    "source": source,
                    "reported_at": tx.time(reported_at),
                    "loaded_at": tx.time(now),
                    "loaded_by": actor.scope,
                    **counts,
                },
            )
            return {"id": report_id, "consent_id": str(found[0]), **counts}

        return {"borrower_id": borrower_id, **self.db.run(work)}


def _borrower(actor: Actor, borrower_id: str) -> str:
    if actor.role is Role.BORROWER and borrower_id != actor.subject:
        raise Forbidden("a borrower consents for themselves only")
    if actor.role is not Role.BORROWER and actor.role not in _LOADERS:
        raise Forbidden(f"role {actor.role.value} may not record consents")
    return checked_text(borrower_id, "borrower_id", 64)


def _count(value: object, name: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= _COUNT_MAX:
        raise InvalidInput(f"{name} must be a whole number of at least 0", field=name)
    return value
