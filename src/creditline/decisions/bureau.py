"""The credit-bureau port: consent first, then reports; decisions read the latest report.

`BureauPort` is what the decision engine asks of a bureau. `StoredReports`, the one adapter in
the box, reads reports loaded into our database (API or CLI); a client of a real bureau can
implement the same port later. A report can only be loaded for a borrower with a consent on
record that has not been revoked (CN-8, US-4): a pull without consent is refused. A report
keeps the key factors that adversely affected its score as the bureau gave them, in its order;
`on_file` is the report an adverse decision records, and its notice discloses (US-4).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, and_, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from creditline.db.commands import CommandResult, Commands
from creditline.db.portable import one_of
from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.tables import bureau_reports, consents
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Conflict, Forbidden, InvalidInput
from creditline.kernel.ids import new_id
from creditline.kernel.invariant import fail
from creditline.kernel.permissions import Permission, require
from creditline.kernel.text import checked_text
from creditline.ledger.ports import KeyFactor, ReportOnFile

BUREAU_FEATURES = (
    "inquiries_1m",
    "inquiries_3m",
    "inquiries_6m",
    "lenders_with_open_loans",
    "other_limits_minor",
    "bureau_score",
    "obligations_monthly_minor",
)
_COUNT_MAX = 10**12
# A bureau gives up to four key factors, and the one about inquiries besides (FCRA 609(f)).
KEY_FACTORS_MAX = 10
KEY_FACTOR_TEXT_LENGTH_MAX = 200
KEY_FACTOR_CODE_LENGTH_MAX = 16
_KEY_FACTOR_FIELDS = frozenset({"text", "code", "inquiries"})
REPORT_AGE_MAX = timedelta(days=3660)  # a report older than ten years says nothing now
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
    def latest(
        self, connection: Connection, borrower_ids: list[str] | None
    ) -> dict[str, dict[str, Any]]:
        """The newest report's features for each borrower that has one (among `borrower_ids`;
        None: every borrower)."""
        ...


class StoredReports:
    """Reports loaded into creditline's own database."""

    def latest(
        self, connection: Connection, borrower_ids: list[str] | None
    ) -> dict[str, dict[str, Any]]:
        """The newest report's features for each borrower that has one (among `borrower_ids`;
        None: every borrower, read unfiltered)."""
        if borrower_ids is not None and not borrower_ids:
            return {}
        of_borrowers = (
            [] if borrower_ids is None else [bureau_reports.c.borrower_id.in_(borrower_ids)]
        )
        newest = (
            select(bureau_reports.c.borrower_id, func.max(bureau_reports.c.reported_at).label("at"))
            .where(*of_borrowers)
            .group_by(bureau_reports.c.borrower_id)
            .subquery()
        )
        rows = (
            connection.execute(
                select(bureau_reports).join(
                    newest,
                    and_(
                        newest.c.borrower_id == bureau_reports.c.borrower_id,
                        newest.c.at == bureau_reports.c.reported_at,
                    ),
                )
            )
            .mappings()
            .all()
        )
        return {row["borrower_id"]: {name: row[name] for name in BUREAU_FEATURES} for row in rows}


class BureauService:
    """Consents to pull a borrower's credit report, and the reports loaded with them."""

    def __init__(self, db: Database, clock: Clock, commands: Commands) -> None:
        self._clock = clock
        self._commands = commands
        self._active_consent = db.prepare(_ACTIVE_CONSENT)
        self._insert_consent = db.prepare(
            insert(consents).values({c.name: bindparam(c.name) for c in consents.c})
        )
        dialect_insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        # A twin loading the same report at the same time: the first insert wins, the other
        # reads the first's report back (and its command then replays the twin's answer).
        self._insert_report = db.prepare(
            dialect_insert(bureau_reports)
            .values({c.name: bindparam(c.name) for c in bureau_reports.c})
            .on_conflict_do_nothing(
                index_elements=[
                    bureau_reports.c.borrower_id,
                    bureau_reports.c.reported_at,
                    bureau_reports.c.source,
                ]
            )
            .returning(bureau_reports.c.id)
        )
        self._same_report = db.prepare(
            select(
                bureau_reports.c.id,
                bureau_reports.c.consent_id,
                bureau_reports.c.key_factors,
                *(bureau_reports.c[name] for name in BUREAU_FEATURES),
            ).where(
                bureau_reports.c.borrower_id == bindparam("borrower_id"),
                bureau_reports.c.source == bindparam("source"),
                bureau_reports.c.reported_at == bindparam("reported_at"),
            )
        )
        # The report a review reads (`StoredReports.latest`): the newest by its date.
        on_file = (
            bureau_reports.c.id,
            bureau_reports.c.source,
            bureau_reports.c.reported_at,
            bureau_reports.c.bureau_score,
            bureau_reports.c.key_factors,
        )
        self._on_file = db.prepare(
            select(*on_file)
            .where(bureau_reports.c.borrower_id == bindparam("borrower_id"))
            .order_by(bureau_reports.c.reported_at.desc(), bureau_reports.c.id.desc())
            .limit(1)
        )
        newest_first = (
            func.row_number()
            .over(
                partition_by=bureau_reports.c.borrower_id,
                order_by=(bureau_reports.c.reported_at.desc(), bureau_reports.c.id.desc()),
            )
            .label("newest_first")
        )
        ranked = (
            select(*on_file, bureau_reports.c.borrower_id, newest_first)
            .where(one_of(bureau_reports.c.borrower_id, bindparam("borrower_ids")))
            .subquery()
        )
        self._on_file_many = db.prepare(select(ranked).where(ranked.c.newest_first == 1))

    def record_consent(self, actor: Actor, key: str, borrower_id: str) -> CommandResult:
        """A borrower's consent to pull their credit report (by the borrower, or staff for them).

        Consent is a state: while one is active, recording it again returns the same consent.
        """
        borrower_id = _borrower(actor, borrower_id)
        request: dict[str, Any] = {"op": "consent", "borrower_id": borrower_id}

        def work(tx: Transaction) -> dict[str, Any]:
            now = self._clock.now()
            found = tx.one(self._active_consent, {"borrower_id": borrower_id, "at": tx.time(now)})
            if found is not None:
                granted = Transaction.read_time(found[1]) or fail("a consent has its time")
                return {"id": found[0], "borrower_id": borrower_id, "granted_at": granted}
            consent_id = new_id()
            tx.execute(
                self._insert_consent,
                {
                    "id": consent_id,
                    "borrower_id": borrower_id,
                    "purpose": "credit_bureau",
                    "granted_at": tx.time(now),
                    "recorded_by": actor.scope,
                    "revoked_at": None,
                },
            )
            return {"id": consent_id, "borrower_id": borrower_id, "granted_at": now}

        return self._commands.run(actor, key, request, work, _consent_document)

    def load_report(self, actor: Actor, key: str, report: dict[str, Any]) -> CommandResult:
        """Store a bureau report; refused without an active consent of its borrower."""
        require(actor, Permission.LOAD_BUREAU_REPORT)
        borrower_id = checked_text(report.get("borrower_id"), "borrower_id", 64)
        source = checked_text(report.get("source", "bureau"), "source", 64)
        reported_at = _checked_report_time(report.get("reported_at"), self._clock.now())
        counts = {name: _count(report.get(name), name) for name in BUREAU_FEATURES}
        factors = _key_factors(report.get("key_factors"))
        known = {"borrower_id", "source", "reported_at", "key_factors", *BUREAU_FEATURES}
        unknown = sorted(set(report) - known)
        if unknown:
            raise InvalidInput(f"unknown report fields: {', '.join(unknown)}", unknown=unknown)
        request: dict[str, Any] = {
            "op": "bureau_report",
            "borrower_id": borrower_id,
            "source": source,
        }
        request |= {"reported_at": reported_at.isoformat(), **counts}
        if factors:  # reports loaded before factors were kept replay as they were
            request["key_factors"] = factors

        def work(tx: Transaction) -> dict[str, Any]:
            # A report is its borrower, source and time: loading it again returns the first.
            keys = {"borrower_id": borrower_id, "source": source}
            at = tx.time(reported_at)
            loaded = tx.one(self._same_report, {**keys, "reported_at": at})
            if loaded is not None:
                return _existing(loaded)
            # The consent must come before the pull the report is of.
            found = tx.one(
                self._active_consent, {"borrower_id": borrower_id, "at": tx.time(reported_at)}
            )
            if found is None:
                raise ConsentMissing(
                    "the borrower has not consented to a credit-bureau pull",
                    borrower_id=borrower_id,
                )
            report_id = new_id()
            inserted = tx.one(
                self._insert_report,
                {
                    "id": report_id,
                    "borrower_id": borrower_id,
                    "consent_id": found[0],
                    "source": source,
                    "reported_at": tx.time(reported_at),
                    "loaded_at": tx.time(self._clock.now()),
                    "loaded_by": actor.scope,
                    **counts,
                    "key_factors": json.dumps(factors) if factors else None,
                },
            )
            if inserted is None:
                return _existing(tx.one(self._same_report, {**keys, "reported_at": at}))
            stored = {**counts, "key_factors": factors}
            return {"id": report_id, "consent_id": str(found[0]), **stored}

        return self._commands.run(
            actor, key, request, work, lambda stored: {"borrower_id": borrower_id, **stored}
        )

    def on_file(self, tx: Transaction, borrower_id: str) -> ReportOnFile | None:
        """The borrower's newest report, the one a review decides on (the ledger records it
        with an adverse decision, US-4)."""
        found = tx.one(self._on_file, {"borrower_id": borrower_id})
        return None if found is None else _report_on_file(found)

    def on_file_many(
        self, tx: Transaction, borrower_ids: list[str]
    ) -> dict[str, ReportOnFile | None]:
        """`on_file` for each of `borrower_ids`, in one statement (a chunk of a review)."""
        found: dict[str, ReportOnFile | None] = dict.fromkeys(borrower_ids)
        if borrower_ids:
            rows = tx.all(self._on_file_many, {"borrower_ids": tx.values(sorted(found))})
            for row in rows:
                found[row[5]] = _report_on_file(row)
        return found


def _report_on_file(found: tuple[Any, ...]) -> ReportOnFile:
    """A report as `on_file` reads it: id, source, reported_at, score, key factors."""
    factors = json.loads(found[4]) if found[4] else []
    return ReportOnFile(
        id=found[0],
        source=found[1],
        reported_at=Transaction.read_time(found[2]) or fail("a report has its time"),
        score=found[3],
        key_factors=tuple(KeyFactor(**factor) for factor in factors),
    )


def _existing(loaded: tuple[Any, ...] | None) -> dict[str, Any]:
    """A report loaded before, as its first load answered."""
    if loaded is None:
        fail("a report that conflicted on insert is not there to read")
    stored = dict(zip(BUREAU_FEATURES, loaded[3:], strict=True))
    factors = json.loads(loaded[2]) if loaded[2] else []
    return {"id": loaded[0], "consent_id": loaded[1], **stored, "key_factors": factors}


def _key_factors(value: object) -> list[dict[str, Any]]:
    """The key factors as the bureau gave them, in its order."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > KEY_FACTORS_MAX:
        raise InvalidInput(f"key_factors must be a list of at most {KEY_FACTORS_MAX} factors")
    return [_key_factor(factor) for factor in value]


def _key_factor(factor: object) -> dict[str, Any]:
    """A factor's `text`, with its `code` and whether it is about inquiries when the bureau
    says so."""
    if not isinstance(factor, dict) or not {"text"} <= set(factor) <= _KEY_FACTOR_FIELDS:
        raise InvalidInput("a key factor has a text, and may have a code and inquiries")
    code = factor.get("code")
    if code is not None:
        code = checked_text(code, "code", KEY_FACTOR_CODE_LENGTH_MAX)
    inquiries = factor.get("inquiries", False)
    if type(inquiries) is not bool:
        raise InvalidInput("a key factor's inquiries is true or false", field="inquiries")
    text = checked_text(factor["text"], "text", KEY_FACTOR_TEXT_LENGTH_MAX)
    return {"code": code, "text": text, "inquiries": inquiries}


def _consent_document(consent: dict[str, Any]) -> dict[str, Any]:
    return {**consent, "granted_at": consent["granted_at"].isoformat()}


def _checked_report_time(reported_at: object, now: datetime) -> datetime:
    if not isinstance(reported_at, datetime) or reported_at.tzinfo is None:
        raise InvalidInput("reported_at must be a time with a time zone")
    try:
        recent = now - REPORT_AGE_MAX <= reported_at <= now
    except OverflowError:
        recent = False
    if not recent:
        raise InvalidInput(
            f"reported_at must be in the last {REPORT_AGE_MAX.days} days, not in the future"
        )
    return reported_at


def _borrower(actor: Actor, borrower_id: str) -> str:
    require(actor, Permission.RECORD_CONSENT)
    if actor.role is Role.BORROWER and borrower_id != actor.subject:
        raise Forbidden("a borrower consents for themselves only")
    return checked_text(borrower_id, "borrower_id", 64)


def _count(value: object, name: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= _COUNT_MAX:
        raise InvalidInput(f"{name} must be a whole number of at least 0", field=name)
    return value
