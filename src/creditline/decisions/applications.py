"""Applications: what a borrower declares, and the underwriting decision that opens a line.

An application's features (income and whether its evidence is in date, age, employment) join
the borrower's latest bureau report and their application counts; the policy decides. A fired
rule declines, naming the rules that fired and nothing else; otherwise the line opens at the
matrix's target within the caps (no increase factor applies to a first limit), and below the
policy's minimum limit the application is declined with the factors that cost the most points,
or for income when no score would have reached the minimum (`Engine.decline_reasons`, Reg B
1002.9(b)(2), US-3). An approval opens the line
and grants its limit through the ledger's decision path (reason `application_approved`, with
the evidence), so the first limit is explained like every later change.

Every application is kept with its outcome; its features feed the borrower's later reviews.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, select, update

from creditline.db.commands import CommandResult, Commands
from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.bureau import BureauPort
from creditline.decisions.engine import Engine
from creditline.decisions.features import EMPLOYMENT
from creditline.decisions.rate_limits import RateLimit, refuse_over_limit
from creditline.decisions.tables import applications, verifications
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Forbidden, InvalidInput
from creditline.kernel.ids import new_id
from creditline.kernel.invariant import fail
from creditline.kernel.money import Money, format_minor
from creditline.kernel.permissions import Permission, require
from creditline.kernel.reasons import reason_texts
from creditline.kernel.text import checked_text
from creditline.ledger.ports import CAP_REASONS, Action, CapCheck, LimitChange
from creditline.ledger.service import LedgerService
from creditline.loans.products import Catalogue

UNDERWRITER = Actor("underwriting", Role.SERVICE)


_DAY = dt.timedelta(days=1)
AGE_MIN = 18
REGION = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")  # ISO 3166-2: country, subdivision


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
        for row in connection.execute(select(ranked).where(ranked.c.newest_first == 1)).mappings()
    }
    found: dict[str, dict[str, Any]] = {}
    for borrower, in_7d, in_30d in counts:
        found[borrower] = {
            "applications_7d": int(in_7d or 0),
            "applications_30d": int(in_30d or 0),
            **(_declared(latest[borrower], today) if borrower in latest else {}),
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


def _declared(row: Any, today: dt.date) -> dict[str, Any]:
    expires = row["income_evidence_expires_on"]
    expires = Transaction.read_date(expires) if expires is not None else None
    birth = Transaction.read_date(row["birth_date"]) or fail("an application without birth date")
    return {
        "income_monthly_minor": row["income_monthly_minor"],
        "income_evidence": bool(row["income_evidence"]) and (expires is None or expires >= today),
        "days_to_income_evidence_expiry": None if expires is None else (expires - today).days,
        "age": _age(birth, today),
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
    obligations_monthly: str | None = None  # monthly payments on other debts, as stated
    region: str | None = None  # where the applicant lives: ISO 3166-2, e.g. CN-SH


class Underwriting:
    def __init__(
        self,
        clock: Clock,
        commands: Commands,
        ledger: LedgerService,
        engine: Callable[[], Engine],
        bureau: BureauPort,
        db: Database,
        catalogue: Catalogue,
        *,
        rate_limit: RateLimit,
    ) -> None:
        self._catalogue = catalogue
        self._clock = clock
        self._rate_limit = rate_limit
        self._commands = commands
        self._ledger = ledger
        self._engine = engine
        self._bureau = bureau
        self._insert = db.prepare(
            insert(applications).values({c.name: bindparam(c.name) for c in applications.c})
        )
        self._set_line = db.prepare(
            update(applications)
            .where(applications.c.id == bindparam("b_id"))
            .values(line_id=bindparam("b_line_id"))
        )

    def on(self, clock: Clock, commands: Commands, ledger: LedgerService) -> Underwriting:
        """The same underwriting on another clock and ledger (the demo writes its history)."""
        again = copy.copy(self)
        again._clock, again._commands, again._ledger = clock, commands, ledger
        return again

    def apply(self, actor: Actor, key: str, application: Application) -> CommandResult:
        """Decide an application and, when approved, open the line and grant its limit through
        the ledger's decision path: one command, so the application, its line, the decision
        and their notices commit together, once per key. A borrower's applications are
        limited per window (`rate_limited`), whoever applies for them."""
        require(actor, Permission.APPLY)
        if actor.role is Role.BORROWER and actor.subject != application.borrower_id:
            raise Forbidden("a borrower applies for themselves only")
        borrower_id = checked_text(application.borrower_id, "borrower_id", 64)
        self._engine()  # built (and its policy stored) before the command's transaction
        request: dict[str, Any] = {
            "op": "apply",
            **{name: str(v) for name, v in asdict(application).items()},
        }

        def work(tx: Transaction) -> dict[str, Any]:
            # One application per borrower at a time: concurrent ones wait, then see the lines
            # the first opened.
            port = self._ledger.port
            port.lock_borrower(tx, borrower_id)
            now = self._clock.now()
            refuse_over_limit(tx, self._rate_limit, applications, borrower_id, now)
            record = self._decide(tx, borrower_id, application)  # bad input is refused first
            port.require_line_room(tx, borrower_id, application.currency)
            # Stored first: the grant's caps read the borrower's capacity from it.
            self._store(tx, record)
            if record["outcome"] == "approved":
                record["line_id"] = self._open(tx, record)
                tx.execute(self._set_line, {"b_id": record["id"], "b_line_id": record["line_id"]})
            return record

        return self._commands.run(actor, key, request, work, _document, core=True)

    def _decide(
        self, tx: Transaction, borrower_id: str, application: Application
    ) -> dict[str, Any]:
        income = Money.parse(application.income_monthly, application.currency)
        if income.minor < 0:
            raise InvalidInput("income cannot be negative")
        obligations = (
            None
            if application.obligations_monthly is None
            else Money.parse(application.obligations_monthly, application.currency).minor
        )
        if obligations is not None and obligations < 0:
            raise InvalidInput("obligations cannot be negative")
        if application.region is not None and not REGION.fullmatch(application.region):
            raise InvalidInput("region must be an ISO 3166-2 subdivision code", field="region")
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
            "obligations_monthly_minor": obligations,
        }
        row = engine.row(self._features(tx, borrower_id, declared, now, today))
        check = engine.cap_check(row)
        outcome, limit_minor, codes = self._outcome(engine, row, check)
        evidence = engine.evidence(row)
        if check is not None:
            evidence["limit_caps"] = check.document(limit_minor, application.currency)
        return {
            "id": new_id(),
            "borrower_id": borrower_id,
            "currency": application.currency,
            **declared,
            "region": application.region,
            "created_at": now,
            "outcome": outcome,
            "granted_limit_minor": limit_minor,
            "line_id": None,
            "reason_codes": codes,
            "evidence": evidence,
        }

    def _features(
        self,
        tx: Transaction,
        borrower_id: str,
        declared: dict[str, Any],
        now: dt.datetime,
        today: dt.date,
    ) -> dict[str, Any]:
        connection = tx.connection
        history = application_features(connection, [borrower_id], now, today)
        report = self._bureau.latest(connection, [borrower_id]).get(borrower_id, {})
        earlier = history.get(borrower_id, {})
        return {
            "line_id": f"application:{borrower_id}",
            "limit_minor": 0,
            "used_minor": 0,
            "utilisation": 0.0,
            "months_on_book": 0,
            "settled_loans": 0,
            "dpd": 0,
            # This application counts with the earlier ones.
            "applications_7d": earlier.get("applications_7d", 0) + 1,
            "applications_30d": earlier.get("applications_30d", 0) + 1,
            **with_report(_declared(declared, today), report),
        }

    @staticmethod
    def _outcome(
        engine: Engine, row: dict[str, Any], check: CapCheck | None
    ) -> tuple[str, int, list[str]]:
        """Declined with the fired rule's reasons; else the matrix's target within the policy's
        largest limit and the profile's caps, on the step. Held by a cap, the grant names
        `regulatory_cap`; held below the policy's smallest limit by one, the decline names
        the cap's cause (income, its evidence, obligations) and `regulatory_cap`."""
        policy = engine.policy
        if row["decisive_rule"] is not None:
            return "declined", 0, engine.decline_reasons(row)
        step = policy.minor(policy.constraints.limit_step)
        allowed = min(row["target_minor"], policy.minor(policy.constraints.max_limit))
        allowed = allowed // step * step
        cap = None if check is None else check.cap_minor
        grant = allowed if cap is None else min(allowed, cap // step * step)
        capped = grant < allowed
        minimum = policy.minor(policy.constraints.min_limit)
        if grant < minimum:
            if capped and allowed >= minimum and check is not None and check.binding is not None:
                cause = CAP_REASONS[check.binding]
                return "declined", 0, list(dict.fromkeys([cause, "regulatory_cap"]))
            return "declined", 0, engine.decline_reasons(row)
        return "approved", grant, ["application_approved", *(["regulatory_cap"] * capped)]

    def _open(self, tx: Transaction, record: dict[str, Any]) -> str:
        """Open the approved line with its limit granted as a decision with its evidence."""
        grant = LimitChange(
            Action.INCREASE,
            tuple(record["reason_codes"]),
            limit_minor=record["granted_limit_minor"],
            policy_version=record["evidence"]["policy"],
        )
        port = self._ledger.port
        line, _ = port.open(
            tx, UNDERWRITER, record["borrower_id"], record["currency"], grant, record["evidence"]
        )
        return line.id

    def _store(self, tx: Transaction, record: dict[str, Any]) -> None:
        row = dict(record)
        row["created_at"] = tx.time(row["created_at"])
        row["birth_date"] = tx.date(row["birth_date"])
        row["income_evidence_expires_on"] = tx.date(row["income_evidence_expires_on"])
        row["reason_codes"] = json.dumps(row["reason_codes"])
        row["evidence"] = json.dumps(row["evidence"], sort_keys=True, default=str)
        tx.execute(self._insert, row)


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
