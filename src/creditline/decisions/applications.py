"""Applications: what a borrower declares, and the underwriting decision that opens a line.

An application's features (income and whether its evidence is in date, age, employment) join
the borrower's latest bureau report and their application counts; the policy decides. A fired
rule declines, naming its reason first; otherwise the line opens at the matrix's target within
the caps (no increase factor applies to a first limit), and below the policy's minimum limit the
application is declined with the factors that cost the most points. An approval opens the line
and grants its limit through the ledger's decision path (reason `application_approved`, with
the evidence), so the first limit is explained like every later change.

Every application is kept with its outcome; its features feed the borrower's later reviews.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from creditline.db.commands import fingerprint as request_hash
from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.bureau import BureauPort
from creditline.decisions.engine import Engine
from creditline.decisions.features import EMPLOYMENT
from creditline.decisions.tables import applications, verifications
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Forbidden, IdempotencyKeyReused, InvalidInput
from creditline.kernel.ids import new_id
from creditline.kernel.money import Money, format_minor
from creditline.kernel.reasons import reason_texts
from creditline.kernel.text import checked_text
from creditline.ledger.service import LedgerService

UNDERWRITER = Actor("underwriting", Role.SERVICE)
_DAY = dt.timedelta(days=1)
AGE_MIN = 18


def application_features(
    connection: Connection, borrower_ids: list[str], now: dt.datetime, today: dt.date
) -> dict[str, dict[str, Any]]:
    """Per borrower: the latest application's features and how many they made lately; a later
    accepted income verification replaces the declared income and its evidence."""
    if not borrower_ids:
        return {}
    counts = connection.execute(
        select(
            applications.c.borrower_id,
            func.sum(case((applications.c.created_at >= now - 7 * _DAY, 1), else_=0)),
            func.sum(case((applications.c.created_at >= now - 30 * _DAY, 1), else_=0)),
        )
        .where(applications.c.borrower_id.in_(borrower_ids))
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
        .where(applications.c.borrower_id.in_(borrower_ids))
        .subquery()
    )
    latest = {
        row["borrower_id"]: row
        for row in connection.execute(select(ranked).where(ranked.c.newest_first == 1)).mappings()
    }
    found: dict[str, dict[str, Any]] = {}
    for borrower, in_7d, in_30d in counts:
        found[borrower] = {
            "applications_7d": int(in_7d or 0),
            "applications_30d": int(in_30d or 0),
            **_declared(latest[borrower], today),
        }
    for borrower, verified in verified_income(connection, borrower_ids, today).items():
        found[borrower] = {**found.get(borrower, {}), **verified}
    return found


def verified_income(
    connection: Connection, borrower_ids: list[str], today: dt.date
) -> dict[str, dict[str, Any]]:
    """Per borrower, the income features of their latest accepted income verification (they
    replace what the application declared)."""
    if not borrower_ids:
        return {}
    latest = (
        select(verifications.c.borrower_id, func.max(verifications.c.created_at).label("at"))
        .where(
            verifications.c.borrower_id.in_(borrower_ids),
            verifications.c.kind == "income",
            verifications.c.status == "accepted",
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
        expires = Transaction.read_date(row["expires_on"])
        assert expires is not None  # accepted income evidence has an end date
        found[row["borrower_id"]] = {
            "income_monthly_minor": row["income_monthly_minor"],
            "income_evidence": expires >= today,
            "days_to_income_evidence_expiry": (expires - today).days,
        }
    return found


def _declared(row: Any, today: dt.date) -> dict[str, Any]:
    expires = row["income_evidence_expires_on"]
    expires = Transaction.read_date(expires) if expires is not None else None
    birth = Transaction.read_date(row["birth_date"])
    assert birth is not None
    return {
        "income_monthly_minor": row["income_monthly_minor"],
        "income_evidence": bool(row["income_evidence"]) and (expires is None or expires >= today),
        "days_to_income_evidence_expiry": None if expires is None else (expires - today).days,
        "age": _age(birth, today),
        "employment": row["employment"],
    }


def _age(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


@dataclass(frozen=True, slots=True)
class Application:
    borrower_id: str
    currency: str
    income_monthly: str
    income_evidence: bool
    income_evidence_expires_on: dt.date | None
    birth_date: dt.date
    employment: str


class Underwriting:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: LedgerService,
        engine: Callable[[], Engine],
        bureau: BureauPort,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._engine = engine
        self._bureau = bureau

    def apply(self, actor: Actor, key: str, application: Application) -> dict[str, Any]:
        """Decide an application; open and grant the line when approved. Idempotent per key.

        The decision is stored first; an approval then opens the line and grants its limit
        under ledger keys derived from the application's id, so a retry after a crash anywhere
        resumes the stored decision and never decides twice. The same key with another body is
        `idempotency_key_reused`.
        """
        if actor.role is Role.BORROWER and actor.subject != application.borrower_id:
            raise Forbidden("a borrower applies for themselves only")
        if actor.role not in (Role.BORROWER, Role.AGENT, Role.ADMIN, Role.SERVICE):
            raise Forbidden(f"role {actor.role.value} may not submit applications")
        borrower_id = checked_text(application.borrower_id, "borrower_id", 64)
        key = checked_text(key, "idempotency key", 255)
        fingerprint = request_hash({name: str(v) for name, v in asdict(application).items()})
        stored = self._stored(borrower_id, key)
        if stored is None:
            record = self._decide(borrower_id, key, fingerprint, application)
            self._insert(record)  # a racing twin's row wins; read back whichever is stored
            stored = self._stored(borrower_id, key)
            assert stored is not None
        if stored["request_hash"] != fingerprint:
            raise IdempotencyKeyReused(
                "this idempotency key was used for a different application", key=key
            )
        if stored["outcome"] == "approved" and stored["line_id"] is None:
            stored["line_id"] = self._open(stored)
        return _document(stored)

    def _decide(
        self, borrower_id: str, key: str, fingerprint: str, application: Application
    ) -> dict[str, Any]:
        income = Money.parse(application.income_monthly, application.currency)
        if income.minor < 0:
            raise InvalidInput("income cannot be negative")
        if application.employment not in EMPLOYMENT:
            raise InvalidInput("unknown employment", employment=list(EMPLOYMENT))
        now = self._clock.now()
        engine = self._engine()
        today = engine.policy.business_date(now)
        if _age(application.birth_date, today) < AGE_MIN:
            raise InvalidInput(f"applicants must be at least {AGE_MIN}", age_min=AGE_MIN)
        if engine.policy.currency != application.currency:
            raise InvalidInput(
                f"the policy lends in {engine.policy.currency}", currency=engine.policy.currency
            )
        declared = {
            "income_monthly_minor": income.minor,
            "income_evidence": application.income_evidence,
            "income_evidence_expires_on": application.income_evidence_expires_on,
            "birth_date": application.birth_date,
            "employment": application.employment,
        }
        row = engine.row(self._features(borrower_id, declared, now, today))
        outcome, limit_minor, codes = self._outcome(engine, row)
        return {
            "id": new_id(),
            "borrower_id": borrower_id,
            "request_key": key,
            "request_hash": fingerprint,
            "currency": application.currency,
            **declared,
            "created_at": now,
            "outcome": outcome,
            "granted_limit_minor": limit_minor,
            "line_id": None,
            "reason_codes": codes,
            "evidence": engine.evidence(row),
        }

    def _features(
        self, borrower_id: str, declared: dict[str, Any], now: dt.datetime, today: dt.date
    ) -> dict[str, Any]:
        with self._db.reading() as connection:
            history = application_features(connection, [borrower_id], now, today).get(
                borrower_id, {}
            )
            report = self._bureau.latest(connection, [borrower_id]).get(borrower_id, {})
        fresh = _declared(declared, today)
        return {
            "line_id": f"application:{borrower_id}",
            "limit_minor": 0,
            "used_minor": 0,
            "utilisation": 0.0,
            "months_on_book": 0,
            "settled_loans": 0,
            "dpd": 0,
            # This application counts with the earlier ones.
            "applications_7d": history.get("applications_7d", 0) + 1,
            "applications_30d": history.get("applications_30d", 0) + 1,
            **fresh,
            **report,
        }

    @staticmethod
    def _outcome(engine: Engine, row: dict[str, Any]) -> tuple[str, int, list[str]]:
        policy = engine.policy
        if row["decisive_rule"] is not None:
            return "declined", 0, engine.adverse_reasons(row)
        step = policy.minor(policy.constraints.limit_step)
        grant = min(row["target_minor"], policy.minor(policy.constraints.max_limit))
        grant = grant // step * step
        if grant < policy.minor(policy.constraints.min_limit):
            return "declined", 0, engine.adverse_reasons(row) or ["income_insufficient"]
        return "approved", grant, ["application_approved"]

    def _open(self, stored: dict[str, Any]) -> str:
        """Open the approved line and grant its limit; each step a replay if it already ran."""
        application_id = stored["id"]
        currency = stored["currency"]
        opened = self._ledger.open_line(
            UNDERWRITER, f"application-open:{application_id}", stored["borrower_id"], currency, "0"
        ).document
        self._ledger.change_limit(
            UNDERWRITER,
            f"application-grant:{application_id}",
            opened["id"],
            "increase",
            list(stored["reason_codes"]),
            limit=format_minor(stored["granted_limit_minor"], currency),
            policy_version=stored["evidence"]["policy"],
            evidence=stored["evidence"],
        )
        link = self._db.prepare(
            update(applications)
            .where(applications.c.id == bindparam("id"), applications.c.line_id.is_(None))
            .values(line_id=bindparam("line_id"))
        )
        self._db.run(lambda tx: tx.execute(link, {"id": application_id, "line_id": opened["id"]}))
        return str(opened["id"])

    def _stored(self, borrower_id: str, key: str) -> dict[str, Any] | None:
        with self._db.reading() as connection:
            row = (
                connection.execute(
                    select(applications).where(
                        applications.c.borrower_id == borrower_id, applications.c.request_key == key
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        record = dict(row)
        record["reason_codes"] = json.loads(record["reason_codes"])
        record["evidence"] = json.loads(record["evidence"])
        return record

    def _insert(self, record: dict[str, Any]) -> None:
        values: dict[str, Any] = {c.name: bindparam(c.name) for c in applications.c}
        conflict = [applications.c.borrower_id, applications.c.request_key]
        # A racing twin with the same key may have stored first: then this insert does nothing.
        statement: Any = (
            postgresql.insert(applications)
            .values(values)
            .on_conflict_do_nothing(index_elements=conflict)
            if self._db.dialect == "postgresql"
            else sqlite.insert(applications)
            .values(values)
            .on_conflict_do_nothing(index_elements=conflict)
        )
        prepared = self._db.prepare(statement)

        def work(tx: Transaction) -> None:
            row = dict(record)
            row["created_at"] = tx.time(row["created_at"])
            row["birth_date"] = tx.date(row["birth_date"])
            row["income_evidence_expires_on"] = tx.date(row["income_evidence_expires_on"])
            row["reason_codes"] = json.dumps(row["reason_codes"])
            row["evidence"] = json.dumps(row["evidence"], sort_keys=True, default=str)
            tx.execute(prepared, row)

        self._db.run(work)


def _document(record: dict[str, Any]) -> dict[str, Any]:
    codes = list(record["reason_codes"])
    limit_minor = record["granted_limit_minor"]
    return {
        "id": record["id"],
        "borrower_id": record["borrower_id"],
        "outcome": record["outcome"],
        "line_id": record["line_id"],
        "limit": format_minor(limit_minor, record["currency"]),
        "currency": record["currency"],
        "reason_codes": codes,
        "reasons": reason_texts(codes),
        "policy": record["evidence"].get("policy"),
    }
