import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Table, delete, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from creditline.bootstrap import Container
from creditline.db.commands import CommandResult, idempotency_keys
from creditline.db.metadata import metadata
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import (
    BorrowerRequestMissing,
    DomainError,
    DrawdownExpired,
    DrawdownNotFound,
    DrawdownNotHeld,
    Forbidden,
    IdempotencyKeyReused,
    InsufficientAvailableCredit,
    InvalidAmount,
    InvalidInput,
    InvalidLimitChange,
    LimitBelowUtilisation,
    LineClosed,
    LineFrozen,
    LineNotFound,
    LineSuspended,
    LoanNotFound,
    LoanSettled,
    ReasonNotSpecific,
    UnknownCurrency,
)
from creditline.kernel.reasons import REASON_CATALOGUE, catalogue_documents
from creditline.ledger.journal import GENESIS_HASH
from creditline.ledger.tables import decisions, drawdowns, journal, lines
from creditline.loans.tables import loans
from creditline.notices.tables import outbox

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
OTHER = Actor("borrower-2", Role.BORROWER)
ANALYST = Actor("analyst-1", Role.ANALYST)


# --- helpers ----------------------------------------------------------------------------------
def open_line(c: Container, agent: Actor, borrower: Actor, limit: str = "20000.00") -> str:
    document = c.ledger.open_line(agent, f"open-{borrower.subject}", borrower.subject, "CNY", limit)
    return str(document.document["id"])


def hold(c: Container, actor: Actor, line_id: str, amount: str = "5000.00", key: str = "h") -> str:
    return str(c.ledger.place_hold(actor, key, line_id, amount, 12).document["id"])


def loan(c: Container, actor: Actor, line_id: str, amount: str = "5000.00") -> str:
    drawdown_id = hold(c, actor, line_id, amount, key=f"hold-for-loan-{amount}")
    posted = c.loans.post_drawdown(actor, f"post-{drawdown_id}", drawdown_id)
    return str(posted.document["loan_id"])


def freeze(c: Container, actor: Actor, line_id: str, days: int = 1) -> dict[str, Any]:
    until = c.clock.now() + timedelta(days=days)
    codes = ["fraud_suspected"]
    return c.ledger.change_limit(actor, "freeze", line_id, "freeze", codes, until=until).document


def rows(c: Container, table: Table, *where: Any) -> list[dict[str, Any]]:
    query = select(table).where(*where) if where else select(table)
    with c.db.engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def outbox_rows(c: Container) -> list[dict[str, Any]]:
    return sorted(rows(c, outbox), key=lambda row: row["id"])  # ids are time-ordered


def topics(c: Container) -> list[str]:
    return [row["topic"] for row in outbox_rows(c)]


def everything(c: Container) -> dict[str, list[str]]:
    """Every row of every table, to prove that a refused command changed nothing."""
    with c.db.engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for table in metadata.sorted_tables
        }


def refused(c: Container, error: type[DomainError], command: Any) -> DomainError:
    """Run `command`, expect `error`, and check that the store did not change."""
    before = everything(c)
    with pytest.raises(error) as caught:
        command()
    assert everything(c) == before
    return caught.value


# --- open_line --------------------------------------------------------------------------------
def test_open_line_creates_an_active_line(container: Container, agent: Actor) -> None:
    result = container.ledger.open_line(agent, "open-1", "borrower-1", "CNY", "20000.00")
    document = result.document
    assert result.replayed is False
    assert document == {
        "id": document["id"],
        "borrower_id": "borrower-1",
        "currency": "CNY",
        "limit": "20000.00",
        "available": "20000.00",
        "principal_outstanding": "0.00",
        "held": "0.00",
        "status": "active",
        "frozen_until": None,
        "closing_at": None,
        "status_decision_id": None,
        "version": 2,  # opened, then its limit granted
        "fully_used": False,
    }
    assert container.ledger.get_line(agent, document["id"]) == document


def test_open_line_journals_the_opening_and_the_staff_members_grant(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    opening, grant = container.ledger.journal(agent, line_id)["entries"]
    assert (opening["seq"], opening["kind"], opening["limit_delta"]) == (1, "open", "0.00")
    assert opening["prev_hash"] == GENESIS_HASH
    assert (grant["seq"], grant["kind"], grant["limit_delta"]) == (2, "increase", "20000.00")
    assert grant["prev_hash"] == opening["hash"]
    [decision] = container.ledger.line_decisions(agent, line_id)["decisions"]
    assert grant["decision_id"] == decision["id"]
    assert (decision["action"], decision["limit_before"], decision["limit_after"]) == (
        "increase",
        "0.00",
        "20000.00",
    )
    assert (decision["reason_codes"], decision["automated"]) == (["application_approved"], False)
    opened, granted = outbox_rows(container)
    assert (opened["topic"], opened["ref_id"], opened["line_id"]) == (
        "event.line_opened",
        line_id,
        line_id,
    )
    assert opened["borrower_id"] == "borrower-1"
    assert (granted["topic"], granted["ref_id"]) == ("notice.line_improved", decision["id"])


def test_open_line_in_a_currency_without_decimals(container: Container, agent: Actor) -> None:
    document = container.ledger.open_line(agent, "o", "b-1", "JPY", "500000").document
    assert (document["limit"], document["available"], document["held"]) == ("500000", "500000", "0")


@pytest.mark.parametrize("role", [Role.BORROWER, Role.ANALYST])
def test_open_line_is_for_operators(container: Container, role: Role) -> None:
    error = refused(
        container,
        Forbidden,
        lambda: container.ledger.open_line(Actor("x", role), "o", "x", "CNY", "100.00"),
    )
    assert error.code == "forbidden"


@pytest.mark.parametrize(
    ("borrower_id", "currency", "limit", "error"),
    [
        ("", "CNY", "100.00", InvalidInput),
        ("b" * 65, "CNY", "100.00", InvalidInput),
        ("b\x00", "CNY", "100.00", InvalidInput),
        (None, "CNY", "100.00", InvalidInput),
        ("b-1", "XXX", "100.00", UnknownCurrency),
        ("b-1", "CNY", 100.0, InvalidAmount),
        ("b-1", "CNY", "-1.00", InvalidAmount),
        ("b-1", "CNY", "100.001", InvalidAmount),
    ],
)
def test_open_line_refuses_bad_input(
    container: Container,
    agent: Actor,
    borrower_id: str,
    currency: str,
    limit: Any,
    error: type[DomainError],
) -> None:
    refused(
        container,
        error,
        lambda: container.ledger.open_line(agent, "o", borrower_id, currency, limit),
    )


@pytest.mark.parametrize(
    ("codes", "error"),
    [
        ([], InvalidInput),  # a decision names 1–4 reasons
        (["fraud_suspected"], InvalidInput),  # adverse: cannot explain a grant
        (["policy_change"], ReasonNotSpecific),  # names no factor
        (["borrower_request"], BorrowerRequestMissing),  # no request of the borrower's
        (["no_such_code"], InvalidInput),
    ],
)
def test_open_line_refuses_reasons_that_cannot_explain_its_grant(
    container: Container, agent: Actor, codes: list[str], error: type[DomainError]
) -> None:
    refused(
        container,
        error,
        lambda: container.ledger.open_line(
            agent, "o", "borrower-1", "CNY", "20000.00", reason_codes=codes
        ),
    )


# --- place_hold -------------------------------------------------------------------------------
def test_place_hold_reserves_credit(container: Container, agent: Actor, borrower: Actor) -> None:
    line_id = open_line(container, agent, borrower)
    document = container.ledger.place_hold(borrower, "h-1", line_id, "5000.00", 12).document
    assert {k: v for k, v in document.items() if k != "line"} == {
        "id": document["id"],
        "line_id": line_id,
        "status": "held",
        "amount": "5000.00",
        "currency": "CNY",
        "term_months": 12,
        "expires_at": "2026-11-28T09:30:00+00:00",
        "quote": document["quote"],
    }
    quote = document["quote"]
    assert (quote["product"], quote["apr_percent"], quote["principal"]) == (
        "test-free-cny",
        "0.00",
        "5000.00",
    )
    line = document["line"]
    assert (line["available"], line["held"], line["limit"], line["version"]) == (
        "15000.00",
        "5000.00",
        "20000.00",
        3,  # opened, granted its limit, held
    )
    assert container.ledger.get_line(borrower, line_id) == line
    assert topics(container)[-1] == "event.hold_placed"


def test_a_holds_stored_response_is_json_of_its_document(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    """The response is stored as text built from parts encoded apart (the quote once per
    remembered price): byte for byte what `json.dumps` makes of the document answered, for
    two holds at one price and one at another, and a replay answers that document."""
    line_id = open_line(container, agent, borrower)
    asked = {"h-1": "500.00", "h-2": "500.00", "h-3": "750.00"}
    results = {
        key: container.ledger.place_hold(borrower, key, line_id, amount, 12)
        for key, amount in asked.items()
    }
    assert results["h-1"].document["quote"] is results["h-2"].document["quote"]  # remembered
    with container.db.engine.connect() as connection:
        query = select(idempotency_keys.c.key, idempotency_keys.c.response)
        stored = {key: text for key, text in connection.execute(query)}
    for key, result in results.items():
        assert stored[key] == json.dumps(result.document), key
    again = container.ledger.place_hold(borrower, "h-3", line_id, "750.00", 12)
    assert (again.document, again.replayed) == (results["h-3"].document, True)


def test_place_hold_may_take_exactly_what_is_available(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    document = container.ledger.place_hold(borrower, "h-1", line_id, "20000.00", 1).document
    assert document["line"]["available"] == "0.00"


def test_place_hold_refuses_more_than_available(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    hold(container, borrower, line_id, "5000.00")
    error = refused(
        container,
        InsufficientAvailableCredit,
        lambda: container.ledger.place_hold(borrower, "h-2", line_id, "15000.01", 12),
    )
    assert error.details == {"available": "15000.00", "currency": "CNY"}


@pytest.mark.parametrize(
    ("amount", "term_months", "error"),
    [
        ("0.00", 12, InvalidAmount),
        ("-5.00", 12, InvalidAmount),
        ("5.001", 12, InvalidAmount),
        (500, 12, InvalidAmount),
        ("5.00", 0, InvalidInput),
        ("5.00", 37, InvalidInput),
        ("5.00", "12", InvalidInput),
        ("5.00", 12.0, InvalidInput),
    ],
)
def test_place_hold_refuses_bad_input(
    container: Container,
    agent: Actor,
    borrower: Actor,
    amount: Any,
    term_months: Any,
    error: type[DomainError],
) -> None:
    line_id = open_line(container, agent, borrower)
    refused(
        container,
        error,
        lambda: container.ledger.place_hold(borrower, "h", line_id, amount, term_months),
    )


def test_place_hold_on_a_frozen_line_cites_the_freeze(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    decision = freeze(container, agent, line_id)["decision"]
    error = refused(
        container,
        LineFrozen,
        lambda: container.ledger.place_hold(borrower, "h", line_id, "1.00", 12),
    )
    assert error.details == {
        "frozen_until": "2026-11-29T09:00:00+00:00",
        "decision_id": decision["id"],
        "reasons": [
            {
                "code": "fraud_suspected",
                "en": "Unusual activity on the account is being reviewed",
                "zh-CN": "账户存在异常活动,正在核查",
            }
        ],
    }


@pytest.mark.parametrize(
    ("action", "codes", "error"),
    [
        ("suspend", ["reverification_due"], LineSuspended),
        ("close", ["fraud_suspected"], LineClosed),
    ],
)
def test_place_hold_on_a_line_not_drawable(
    container: Container,
    agent: Actor,
    approver: Actor,
    borrower: Actor,
    action: str,
    codes: list[str],
    error: type[DomainError],
) -> None:
    line_id = open_line(container, agent, borrower)
    decision = container.ledger.change_limit(approver, "d", line_id, action, codes).document
    caught = refused(
        container, error, lambda: container.ledger.place_hold(borrower, "h", line_id, "1.00", 12)
    )
    assert caught.details == {
        "decision_id": decision["decision"]["id"],
        "reasons": [
            {
                "code": code,
                "en": REASON_CATALOGUE[code].text_en,
                "zh-CN": REASON_CATALOGUE[code].text_zh,
            }
            for code in codes
        ],
    }


def test_line_frozen_still_cites_the_freeze_after_a_limit_change(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    # The borrower asks "why can't I draw?": the answer is the freeze, not a later decrease.
    line_id = open_line(container, agent, borrower)
    freeze_id = freeze(container, agent, line_id)["decision"]["id"]
    container.ledger.change_limit(
        approver, "dec", line_id, "decrease", ["utilisation_high"], limit="15000.00"
    )
    with pytest.raises(LineFrozen) as caught:
        container.ledger.place_hold(borrower, "h", line_id, "1.00", 12)
    assert caught.value.details["decision_id"] == freeze_id


@pytest.mark.parametrize("role", [Role.ANALYST, Role.APPROVER])
def test_read_only_and_deciding_roles_cannot_move_money(
    container: Container, agent: Actor, borrower: Actor, role: Role
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id, key="h-1")
    loan_id = loan(container, borrower, line_id)
    actor = Actor("staff-1", role)
    for command in (
        lambda: container.ledger.place_hold(actor, "h", line_id, "1.00", 12),
        lambda: container.loans.post_drawdown(actor, "p", drawdown_id),
        lambda: container.ledger.void_drawdown(actor, "v", drawdown_id),
        lambda: container.loans.repay(actor, "r", loan_id, "1.00"),
    ):
        assert refused(container, Forbidden, command).code == "forbidden"


def test_an_agent_may_move_money_for_a_borrower(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    loan_id = loan(container, agent, line_id)
    voided = hold(container, agent, line_id, key="h-void")
    assert container.ledger.void_drawdown(agent, "v", voided).document["status"] == "voided"
    repaid = container.loans.repay(agent, "r", loan_id, "5000.00").document
    assert (repaid["loan_status"], repaid["line"]["available"]) == ("settled", "20000.00")


# --- post_drawdown ----------------------------------------------------------------------------
def test_post_drawdown_turns_the_whole_hold_into_a_loan(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    document = container.loans.post_drawdown(borrower, "p-1", drawdown_id).document
    assert (document["id"], document["status"], document["amount"], document["released"]) == (
        drawdown_id,
        "posted",
        "5000.00",
        "0.00",
    )
    line = document["line"]
    assert (line["available"], line["principal_outstanding"], line["held"]) == (
        "15000.00",
        "5000.00",
        "0.00",
    )
    [row] = rows(container, loans)
    assert (row["id"], row["principal_minor"], row["principal_outstanding_minor"]) == (
        document["loan_id"],
        500_000,
        500_000,
    )
    assert (row["status"], row["term_months"], row["drawdown_id"]) == ("open", 12, drawdown_id)
    assert topics(container)[-1] == "event.loan_opened"


def test_post_drawdown_of_part_releases_the_rest(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    document = container.loans.post_drawdown(borrower, "p-1", drawdown_id, "3000.00").document
    assert (document["amount"], document["released"]) == ("3000.00", "2000.00")
    line = document["line"]
    assert (line["available"], line["principal_outstanding"], line["held"]) == (
        "17000.00",
        "3000.00",
        "0.00",
    )
    [row] = rows(container, drawdowns)
    assert (row["status"], row["posted_minor"], row["loan_id"]) == (
        "posted",
        300_000,
        document["loan_id"],
    )
    repaid = container.loans.repay(borrower, "r", document["loan_id"], "3000.00").document
    assert repaid["loan_status"] == "settled"


@pytest.mark.parametrize("amount", ["5000.01", "0.00", "-1.00"])
def test_post_drawdown_refuses_an_amount_outside_the_hold(
    container: Container, agent: Actor, borrower: Actor, amount: str
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    refused(
        container,
        InvalidAmount,
        lambda: container.loans.post_drawdown(borrower, "p", drawdown_id, amount),
    )
    assert container.loans.post_drawdown(borrower, "p", drawdown_id, "5000.00").document[
        "status"
    ] == ("posted")


def test_post_drawdown_twice_is_refused(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    container.loans.post_drawdown(borrower, "p-1", drawdown_id)
    error = refused(
        container,
        DrawdownNotHeld,
        lambda: container.loans.post_drawdown(borrower, "p-2", drawdown_id),
    )
    assert error.details == {"status": "posted"}


def test_post_drawdown_after_the_hold_expired_is_refused(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    clock.advance(timedelta(minutes=30))
    error = refused(
        container,
        DrawdownExpired,
        lambda: container.loans.post_drawdown(borrower, "p", drawdown_id),
    )
    assert error.details == {"expired_at": "2026-11-28T09:30:00+00:00"}


def test_post_drawdown_just_before_expiry_succeeds(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    clock.advance(timedelta(minutes=30) - timedelta(microseconds=1))
    assert container.loans.post_drawdown(borrower, "p", drawdown_id).document["amount"] == (
        "5000.00"
    )


def test_post_drawdown_on_a_frozen_line_is_refused(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    freeze(container, agent, line_id)
    refused(
        container, LineFrozen, lambda: container.loans.post_drawdown(borrower, "p", drawdown_id)
    )


# --- void_drawdown ----------------------------------------------------------------------------
def test_void_drawdown_releases_the_hold(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    document = container.ledger.void_drawdown(borrower, "v", drawdown_id).document
    assert (document["id"], document["status"]) == (drawdown_id, "voided")
    assert (document["line"]["available"], document["line"]["held"]) == ("20000.00", "0.00")
    [row] = rows(container, drawdowns)
    assert (row["status"], row["resolved_at"], row["loan_id"]) == ("voided", START, None)
    assert topics(container)[-1] == "event.hold_voided"


def test_void_drawdown_of_an_expired_unswept_hold(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    clock.advance(timedelta(hours=1))
    document = container.ledger.void_drawdown(borrower, "v", drawdown_id).document
    assert (document["status"], document["line"]["available"]) == ("voided", "20000.00")
    assert container.ledger.sweep() == {
        "holds_released": 0,
        "freezes_ended": 0,
        "closes_applied": 0,
        "failed": 0,
    }
    assert container.ledger.get_line(borrower, line_id)["held"] == "0.00"


def test_void_drawdown_works_on_a_frozen_line(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    freeze(container, agent, line_id)
    line = container.ledger.void_drawdown(borrower, "v", drawdown_id).document["line"]
    assert (line["status"], line["held"]) == ("frozen", "0.00")


def test_void_drawdown_of_a_resolved_drawdown_is_refused(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    voided = hold(container, borrower, line_id, key="h-1")
    posted = hold(container, borrower, line_id, key="h-2")
    container.ledger.void_drawdown(borrower, "v-1", voided)
    container.loans.post_drawdown(borrower, "p-1", posted)
    for key, drawdown_id, status in (("v-2", voided, "voided"), ("v-3", posted, "posted")):
        error = refused(
            container,
            DrawdownNotHeld,
            lambda k=key, d=drawdown_id: container.ledger.void_drawdown(borrower, k, d),
        )
        assert error.details == {"status": status}


# --- repay ------------------------------------------------------------------------------------
def test_repay_part_restores_that_much_credit(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    loan_id = loan(container, borrower, line_id)
    document = container.loans.repay(borrower, "r-1", loan_id, "2000.00").document
    assert {k: v for k, v in document.items() if k not in ("id", "line")} == {
        "loan_id": loan_id,
        "amount": "2000.00",
        "business_date": "2026-11-28",
        "allocation": {
            "penalty": "0.00",
            "fees": "0.00",
            "interest": "0.00",
            "principal": "2000.00",
            "prepaid_principal": "2000.00",  # the interest-free loan falls due in a year
            "reapplied": "0.00",
            "credit": "0.00",
        },
        "loan_status": "open",
        "principal_outstanding": "3000.00",
        "credit_balance": "0.00",
        # The prepayment re-amortised the loan: its one instalment of principal is smaller.
        "rescheduled": True,
        "schedule": [
            {
                "number": 12,
                "due_date": "2027-11-28",
                "amount": "3000.00",
                "principal": "3000.00",
                "interest": "0.00",
                "fee": "0.00",
            }
        ],
    }
    assert (document["line"]["available"], document["line"]["principal_outstanding"]) == (
        "17000.00",
        "3000.00",
    )
    [row] = rows(container, loans)
    assert (row["status"], row["principal_outstanding_minor"], row["settled_at"]) == (
        "open",
        300_000,
        None,
    )
    assert topics(container)[-2:] == ["event.repayment_received", "notice.schedule_changed"]


def test_repay_the_rest_settles_the_loan_in_the_same_transaction(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    loan_id = loan(container, borrower, line_id)
    container.loans.repay(borrower, "r-1", loan_id, "2000.00")
    clock.advance(timedelta(days=3))
    document = container.loans.repay(borrower, "r-2", loan_id, "3000.00").document
    assert (document["loan_status"], document["principal_outstanding"]) == ("settled", "0.00")
    assert (document["line"]["available"], document["line"]["principal_outstanding"]) == (
        "20000.00",
        "0.00",
    )
    [row] = rows(container, loans)
    assert (row["status"], row["principal_outstanding_minor"]) == ("settled", 0)
    assert row["settled_at"] == START + timedelta(days=3)
    [notice] = [m for m in outbox_rows(container) if m["topic"] == "notice.loan_settled"]
    assert notice["ref_id"] == loan_id
    payload = json.loads(notice["payload"])
    assert payload == {
        "loan": loan_id,
        "repaid": "3000.00",
        "released": "3000.00",
        "available": "20000.00",
        "line": payload["line"],
    }
    assert (payload["line"]["id"], payload["line"]["available"]) == (line_id, "20000.00")


def test_repay_a_settled_loan_is_refused(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    loan_id = loan(container, borrower, line_id)
    container.loans.repay(borrower, "r-1", loan_id, "5000.00")
    error = refused(
        container, LoanSettled, lambda: container.loans.repay(borrower, "r-2", loan_id, "1.00")
    )
    assert error.code == "loan_settled"


def test_repaying_more_than_owed_settles_and_keeps_the_rest_as_a_refund(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    loan_id = loan(container, borrower, line_id)
    document = container.loans.repay(borrower, "r", loan_id, "5000.01").document
    assert (document["loan_status"], document["allocation"]["principal"]) == ("settled", "5000.00")
    assert (document["allocation"]["credit"], document["credit_balance"]) == ("0.01", "0.01")
    assert document["line"]["available"] == "20000.00"
    assert topics(container)[-2:] == ["notice.loan_settled", "notice.refund_due"]
    [row] = rows(container, loans)
    assert (row["status"], row["credit_minor"]) == ("settled", 1)


@pytest.mark.parametrize("amount", ["0.00", "-1.00", "1.001", 100])
def test_repay_refuses_a_bad_amount(
    container: Container, agent: Actor, borrower: Actor, amount: Any
) -> None:
    line_id = open_line(container, agent, borrower)
    loan_id = loan(container, borrower, line_id)
    command = lambda: container.loans.repay(borrower, "r", loan_id, amount)  # noqa: E731
    refused(container, InvalidAmount, command)


@pytest.mark.parametrize(
    ("action", "codes"), [("freeze", ["fraud_suspected"]), ("close", ["fraud_suspected"])]
)
def test_repay_works_on_a_frozen_or_closed_line(
    container: Container,
    agent: Actor,
    approver: Actor,
    borrower: Actor,
    action: str,
    codes: list[str],
) -> None:
    line_id = open_line(container, agent, borrower)
    loan_id = loan(container, borrower, line_id)
    until = START + timedelta(days=1) if action == "freeze" else None
    container.ledger.change_limit(approver, "d", line_id, action, codes, until=until)
    line = container.loans.repay(borrower, "r", loan_id, "5000.00").document["line"]
    assert (line["status"], line["principal_outstanding"]) == (
        "frozen" if action == "freeze" else "closed",
        "0.00",
    )


# --- change_limit -----------------------------------------------------------------------------
def test_increase_records_an_explained_decision(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    result = container.ledger.change_limit(
        approver,
        "inc",
        line_id,
        "increase",
        ["good_repayment_history", "income_verified"],
        limit="25000.00",
        note="annual review",
        policy_version="limits-v3",
    )
    decision = result.document["decision"]
    reason = REASON_CATALOGUE["good_repayment_history"]
    assert decision == {
        "id": decision["id"],
        "action": "increase",
        "adverse": False,
        "limit_before": "20000.00",
        "limit_after": "25000.00",
        "status_before": "active",
        "status_after": "active",
        "until": None,
        "effective_at": None,
        "reason_codes": ["good_repayment_history", "income_verified"],
        "reasons": [
            {"code": reason.code, "en": reason.text_en, "zh-CN": reason.text_zh},
            {
                "code": "income_verified",
                "en": "Income was verified",
                "zh-CN": REASON_CATALOGUE["income_verified"].text_zh,
            },
        ],
        "actor": "approver:approver-1",
        "policy_version": "limits-v3",
        "note": "annual review",
        "at": "2026-11-28T09:00:00+00:00",
    }
    line = result.document["line"]
    assert (line["limit"], line["available"], line["status"]) == ("25000.00", "25000.00", "active")


def test_a_decision_is_stored_with_its_facts(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    document = container.ledger.change_limit(
        approver, "dec", line_id, "decrease", ["utilisation_high"], limit="12000.00"
    ).document
    [grant] = rows(container, decisions, decisions.c.action == "increase")
    # The opening's grant is the agent's (the suite's profile caps nothing: no cap figures).
    assert {k: grant[k] for k in ("actor_role", "actor_subject", "reason_codes", "evidence")} == {
        "actor_role": "agent",
        "actor_subject": "agent-1",
        "reason_codes": '["application_approved"]',
        "evidence": None,
    }
    assert (grant["limit_before_minor"], grant["limit_after_minor"]) == (0, 2_000_000)
    [row] = rows(container, decisions, decisions.c.action == "decrease")
    assert row == {
        "id": document["decision"]["id"],
        "line_id": line_id,
        "action": "decrease",
        "adverse": True,
        "limit_before_minor": 2_000_000,
        "limit_after_minor": 1_200_000,
        "status_before": "active",
        "status_after": "active",
        "until": None,
        "reason_codes": '["utilisation_high"]',
        "actor_subject": "approver-1",
        "actor_role": "approver",
        "policy_version": None,
        "note": None,
        "created_at": START,
        "evidence": None,  # a person decided: no engine evidence
        "effective_at": None,  # it took effect at once
    }
    entry = container.ledger.journal(agent, line_id)["entries"][-1]
    assert (entry["kind"], entry["limit_delta"], entry["decision_id"]) == (
        "decrease",
        "-8000.00",
        row["id"],
    )


STEPS = [  # each step from the state the previous one left
    ("freeze", ["fraud_suspected"], "frozen", "notice.adverse_change"),
    ("unfreeze", ["risk_resolved"], "active", "notice.line_improved"),
    ("suspend", ["reverification_due"], "suspended", "notice.adverse_change"),
    ("restore", ["verification_completed"], "active", "notice.line_improved"),
    ("close", ["overdue_payment"], "closed", "notice.adverse_change"),
]


def test_each_status_action_moves_the_line_and_sends_its_notice(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    loan(container, borrower, line_id)
    for action, codes, status, topic in STEPS:
        until = container.clock.now() + timedelta(days=7) if action == "freeze" else None
        document = container.ledger.change_limit(
            approver, action, line_id, action, codes, until=until
        ).document
        line, decision = document["line"], document["decision"]
        assert (line["status"], decision["status_after"]) == (status, status)
        assert line["frozen_until"] == ("2026-12-05T09:00:00+00:00" if until else None)
        assert (line["limit"], line["available"]) == ("20000.00", "15000.00")  # limit visible
        message = outbox_rows(container)[-1]
        assert (message["topic"], message["ref_id"]) == (topic, decision["id"])


@pytest.mark.parametrize(
    ("action", "limit", "codes", "error"),
    [
        ("unfreeze", None, ["risk_resolved"], InvalidLimitChange),
        ("restore", None, ["risk_resolved"], InvalidLimitChange),
        ("increase", "20000.00", ["income_verified"], InvalidLimitChange),
        ("decrease", "20000.00", ["utilisation_high"], InvalidLimitChange),
        ("increase", "25000.00", ["fraud_suspected"], InvalidInput),
        ("decrease", "15000.00", ["income_verified"], InvalidInput),
        ("decrease", "15000.00", [], InvalidInput),
        ("decrease", "15000.00", ["unheard_of"], InvalidInput),
        ("decrease", None, ["utilisation_high"], InvalidInput),
        ("suspend", "15000.00", ["utilisation_high"], InvalidInput),
        ("decrease", "15000.001", ["utilisation_high"], InvalidAmount),
        ("promote", None, ["utilisation_high"], InvalidInput),
        ("freeze", None, ["fraud_suspected"], InvalidInput),
    ],
)
def test_change_limit_refusals(
    container: Container,
    agent: Actor,
    approver: Actor,
    borrower: Actor,
    action: str,
    limit: str | None,
    codes: list[str],
    error: type[DomainError],
) -> None:
    line_id = open_line(container, agent, borrower)
    refused(
        container,
        error,
        lambda: container.ledger.change_limit(approver, "d", line_id, action, codes, limit=limit),
    )


def test_reason_codes_must_be_a_list_of_strings(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    for codes in ("fraud_suspected", [1], ("fraud_suspected",)):
        refused(
            container,
            InvalidInput,
            lambda c=codes: container.ledger.change_limit(approver, "d", line_id, "suspend", c),
        )


@pytest.mark.parametrize("days", [0, 367])
def test_a_freeze_must_end_within_366_days(
    container: Container, agent: Actor, borrower: Actor, days: int
) -> None:
    line_id = open_line(container, agent, borrower)
    until = START + timedelta(days=days)
    error = refused(
        container,
        InvalidInput,
        lambda: container.ledger.change_limit(
            agent, "f", line_id, "freeze", ["fraud_suspected"], until=until
        ),
    )
    assert error.details == {"freeze_days_max": 366}


def test_a_naive_freeze_end_is_refused_as_input(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    refused(
        container,
        InvalidInput,
        lambda: container.ledger.change_limit(
            agent, "f", line_id, "freeze", ["fraud_suspected"], until=datetime(2026, 11, 29)
        ),
    )


def test_a_freeze_end_given_in_another_zone_is_reported_in_utc(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    until = (START + timedelta(days=1)).astimezone(timezone(timedelta(hours=8)))
    document = container.ledger.change_limit(
        agent, "f", line_id, "freeze", ["fraud_suspected"], until=until
    ).document
    stored = container.ledger.get_line(agent, line_id)["frozen_until"]
    assert stored == "2026-11-29T09:00:00+00:00"
    assert document["line"]["frozen_until"] == stored
    assert document["decision"]["until"] == stored


def test_decrease_below_utilisation_is_refused_and_changes_nothing(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    loan(container, borrower, line_id, "6000.00")
    hold(container, borrower, line_id, "4000.00")
    line_before = container.ledger.get_line(agent, line_id)
    error = refused(
        container,
        LimitBelowUtilisation,
        lambda: container.ledger.change_limit(
            approver, "dec", line_id, "decrease", ["utilisation_high"], limit="9999.99"
        ),
    )
    assert error.details == {"utilised": "10000.00", "currency": "CNY"}
    assert container.ledger.get_line(agent, line_id) == line_before


def test_decrease_to_exactly_the_utilisation_is_allowed(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    loan(container, borrower, line_id, "6000.00")
    line = container.ledger.change_limit(
        approver, "dec", line_id, "decrease", ["utilisation_high"], limit="6000.00"
    ).document["line"]
    assert (line["limit"], line["available"]) == ("6000.00", "0.00")


def test_a_limit_change_keeps_a_freeze(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    freeze(container, agent, line_id)
    line = container.ledger.change_limit(
        approver, "inc", line_id, "increase", ["income_verified"], limit="30000.00"
    ).document["line"]
    assert (line["status"], line["frozen_until"], line["limit"]) == (
        "frozen",
        "2026-11-29T09:00:00+00:00",
        "30000.00",
    )


FORBIDDEN = [
    *[(Role.BORROWER, action) for action in ("increase", "decrease", "freeze", "close")],
    *[(Role.ANALYST, action) for action in ("increase", "freeze", "suspend", "unfreeze")],
    *[(Role.AGENT, action) for action in ("increase", "decrease", "close")],
]


@pytest.mark.parametrize(("role", "action"), FORBIDDEN)
def test_change_limit_needs_the_right_role(
    container: Container, agent: Actor, borrower: Actor, role: Role, action: str
) -> None:
    line_id = open_line(container, agent, borrower)
    actor = Actor(borrower.subject if role is Role.BORROWER else "someone", role)
    limit = {"increase": "30000.00", "decrease": "10000.00"}.get(action)
    until = START + timedelta(days=1) if action == "freeze" else None
    codes = ["fraud_suspected"] if action in ("decrease", "freeze", "close") else ["risk_resolved"]
    error = refused(
        container,
        Forbidden,
        lambda: container.ledger.change_limit(
            actor, "d", line_id, action, codes, limit=limit, until=until
        ),
    )
    assert error.code == "forbidden"


@pytest.mark.parametrize("role", [Role.AGENT, Role.APPROVER, Role.ADMIN, Role.SERVICE])
def test_freezing_is_open_to_operators_and_approvers(
    container: Container, agent: Actor, borrower: Actor, role: Role
) -> None:
    line_id = open_line(container, agent, borrower)
    assert freeze(container, Actor("someone", role), line_id)["line"]["status"] == "frozen"


@pytest.mark.parametrize("role", [Role.APPROVER, Role.ADMIN, Role.SERVICE])
def test_limits_are_changed_by_approvers_admins_and_services(
    container: Container, agent: Actor, borrower: Actor, role: Role
) -> None:
    line_id = open_line(container, agent, borrower)
    document = container.ledger.change_limit(
        Actor("someone", role), "d", line_id, "decrease", ["utilisation_high"], limit="500.00"
    ).document
    assert document["decision"]["actor"] == f"{role.value}:someone"
    assert document["line"]["limit"] == "500.00"


# --- visibility -------------------------------------------------------------------------------
def test_a_borrower_sees_only_their_own_lines(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    assert container.ledger.get_line(borrower, line_id)["borrower_id"] == "borrower-1"
    for read in (
        lambda: container.ledger.get_line(OTHER, line_id),
        lambda: container.ledger.journal(OTHER, line_id),
        lambda: container.ledger.place_hold(OTHER, "h", line_id, "1.00", 12),
    ):
        error = refused(container, LineNotFound, read)
        assert error.details == {"line_id": line_id}


def test_another_borrowers_drawdown_and_loan_look_missing(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id, key="h-1")
    loan_id = loan(container, borrower, line_id)
    for command in (
        lambda: container.loans.post_drawdown(OTHER, "p", drawdown_id),
        lambda: container.ledger.void_drawdown(OTHER, "v", drawdown_id),
        lambda: container.loans.post_drawdown(OTHER, "p", "no-such-drawdown"),
    ):
        refused(container, DrawdownNotFound, command)
    for command in (
        lambda: container.loans.repay(OTHER, "r", loan_id, "1.00"),
        lambda: container.loans.repay(borrower, "r", "no-such-loan", "1.00"),
    ):
        refused(container, LoanNotFound, command)


def test_an_unknown_line_is_not_found(container: Container, agent: Actor) -> None:
    refused(container, LineNotFound, lambda: container.ledger.get_line(agent, "no-such-line"))


def test_staff_see_every_line(container: Container, agent: Actor, borrower: Actor) -> None:
    line_id = open_line(container, agent, borrower)
    assert container.ledger.get_line(ANALYST, line_id)["id"] == line_id


# --- idempotency ------------------------------------------------------------------------------
def test_replaying_open_line_returns_the_same_line(container: Container, agent: Actor) -> None:
    first = container.ledger.open_line(agent, "k", "b-1", "CNY", "500.00")
    before = everything(container)
    again = container.ledger.open_line(agent, "k", "b-1", "CNY", "500.00")
    assert (again.document, again.replayed) == (first.document, True)
    assert everything(container) == before


def test_replaying_a_hold_after_it_was_posted_returns_the_hold(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    first = container.ledger.place_hold(borrower, "k", line_id, "5000.00", 12)
    container.loans.post_drawdown(borrower, "p", first.document["id"])
    before = everything(container)
    again = container.ledger.place_hold(borrower, "k", line_id, "5000.00", 12)
    assert (again.document, again.replayed) == (first.document, True)
    assert everything(container) == before


def test_replaying_repay_and_decisions_has_one_effect(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    loan_id = loan(container, borrower, line_id)
    commands: list[Callable[[], CommandResult]] = [
        lambda: container.loans.repay(borrower, "r", loan_id, "1000.00"),
        lambda: container.ledger.change_limit(
            approver, "d", line_id, "increase", ["income_verified"], limit="21000.00"
        ),
        lambda: container.ledger.void_drawdown(borrower, "v", hold(container, borrower, line_id)),
    ]
    for command in commands:
        first = command()
        before = everything(container)
        again = command()
        assert (again.document, again.replayed) == (first.document, True)
        assert everything(container) == before
    line = container.ledger.get_line(borrower, line_id)
    assert (line["principal_outstanding"], line["limit"], line["held"]) == (
        "4000.00",
        "21000.00",
        "0.00",
    )


def test_the_same_key_with_another_request_is_refused(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    container.ledger.place_hold(borrower, "k", line_id, "5000.00", 12)
    for command in (
        lambda: container.ledger.place_hold(borrower, "k", line_id, "5000.01", 12),
        lambda: container.ledger.place_hold(borrower, "k", line_id, "5000.00", 6),
        lambda: container.ledger.void_drawdown(borrower, "k", "whatever"),
    ):
        error = refused(container, IdempotencyKeyReused, command)
        assert (error.code, error.details) == ("idempotency_key_reused", {"key": "k"})


def test_keys_are_scoped_per_actor(container: Container, agent: Actor, borrower: Actor) -> None:
    mine = open_line(container, agent, borrower)
    theirs = open_line(container, agent, OTHER)
    first = container.ledger.place_hold(borrower, "same", mine, "100.00", 12)
    second = container.ledger.place_hold(OTHER, "same", theirs, "200.00", 12)
    assert (first.replayed, second.replayed) == (False, False)
    assert first.document["id"] != second.document["id"]
    assert len(rows(container, drawdowns)) == 2


def test_a_refused_command_stores_no_key(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    refused(
        container,
        InsufficientAvailableCredit,
        lambda: container.ledger.place_hold(borrower, "k", line_id, "20000.01", 12),
    )
    corrected = container.ledger.place_hold(borrower, "k", line_id, "20000.00", 12)
    assert (corrected.replayed, corrected.document["amount"]) == (False, "20000.00")


def test_a_refused_command_may_succeed_later_under_the_same_key(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    first_hold = hold(container, borrower, line_id, "1.00", key="h-1")

    def command() -> CommandResult:
        return container.ledger.place_hold(borrower, "k", line_id, "20000.00", 12)

    refused(container, InsufficientAvailableCredit, command)
    container.ledger.void_drawdown(borrower, "v", first_hold)
    assert command().document["line"]["available"] == "0.00"


@pytest.mark.parametrize("key", ["", "k" * 256, None, "k\n1"])
def test_an_idempotency_key_is_required(container: Container, agent: Actor, key: Any) -> None:
    refused(
        container,
        InvalidInput,
        lambda: container.ledger.open_line(agent, key, "b-1", "CNY", "100.00"),
    )


def test_concurrent_requests_with_one_key_have_one_effect(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    start = threading.Barrier(6)
    results: list[Any] = []

    def request() -> None:
        start.wait()
        results.append(container.ledger.place_hold(borrower, "k", line_id, "100.00", 12))

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6
    assert sorted(result.replayed for result in results) == [False] + [True] * 5
    assert len({json.dumps(result.document, sort_keys=True) for result in results}) == 1
    assert container.ledger.get_line(agent, line_id)["held"] == "100.00"


def test_concurrent_holds_never_overdraw_the_line(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    start = threading.Barrier(5)
    outcomes: list[str] = []

    def request(number: int) -> None:
        start.wait()
        try:
            container.ledger.place_hold(borrower, f"h-{number}", line_id, "5000.00", 12)
            outcomes.append("held")
        except DomainError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["held"] * 4 + ["insufficient_available_credit"]
    line = container.ledger.get_line(agent, line_id)
    # Opened, granted its limit, four holds.
    assert (line["held"], line["available"], line["version"]) == ("20000.00", "0.00", 6)
    assert container.reconciler.run() == []


# --- sweep ------------------------------------------------------------------------------------
def test_sweep_releases_expired_holds_only(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    expiring = [hold(container, borrower, line_id, "1000.00", key=f"h-{i}") for i in range(2)]
    clock.advance(timedelta(minutes=10))
    live = hold(container, borrower, line_id, "500.00", key="h-live")
    clock.advance(timedelta(minutes=20))  # the first two expire exactly now
    assert container.ledger.sweep() == {
        "holds_released": 2,
        "freezes_ended": 0,
        "closes_applied": 0,
        "failed": 0,
    }
    statuses = {row["id"]: row["status"] for row in rows(container, drawdowns)}
    assert statuses == {expiring[0]: "expired", expiring[1]: "expired", live: "held"}
    line = container.ledger.get_line(borrower, line_id)
    assert (line["held"], line["available"]) == ("500.00", "19500.00")
    assert topics(container).count("event.hold_expired") == 2
    assert container.ledger.sweep() == {
        "holds_released": 0,
        "freezes_ended": 0,
        "closes_applied": 0,
        "failed": 0,
    }


def test_sweep_respects_its_batch_size(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    for i in range(3):
        hold(container, borrower, line_id, "1.00", key=f"h-{i}")
    clock.advance(timedelta(hours=1))
    assert container.ledger.sweep(batch_size=2)["holds_released"] == 2
    assert container.ledger.sweep(batch_size=2)["holds_released"] == 1


def test_sweep_lifts_a_freeze_past_its_end_with_a_decision(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    freeze(container, agent, line_id, days=2)
    clock.advance(timedelta(days=2) - timedelta(microseconds=1))
    assert container.ledger.sweep() == {
        "holds_released": 0,
        "freezes_ended": 0,
        "closes_applied": 0,
        "failed": 0,
    }
    clock.advance(timedelta(microseconds=1))
    assert container.ledger.sweep() == {
        "holds_released": 0,
        "freezes_ended": 1,
        "closes_applied": 0,
        "failed": 0,
    }
    line = container.ledger.get_line(borrower, line_id)
    assert (line["status"], line["frozen_until"]) == ("active", None)
    thaw = rows(container, decisions, decisions.c.action == "unfreeze")
    assert [(d["reason_codes"], d["actor_subject"], d["actor_role"]) for d in thaw] == [
        ('["freeze_ended"]', "creditline", "service")
    ]
    assert line["status_decision_id"] == thaw[0]["id"]
    notice = outbox_rows(container)[-1]
    assert (notice["topic"], notice["ref_id"]) == ("notice.line_improved", thaw[0]["id"])
    assert json.loads(notice["payload"])["decision"]["reason_codes"] == ["freeze_ended"]


def test_a_hold_on_a_line_whose_freeze_ended_lifts_it_first(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    freeze(container, agent, line_id)
    clock.advance(timedelta(days=1))
    document = container.ledger.place_hold(borrower, "h", line_id, "100.00", 12).document
    assert (document["line"]["status"], document["line"]["frozen_until"]) == ("active", None)
    kinds = [e["kind"] for e in container.ledger.journal(borrower, line_id)["entries"]]
    assert kinds == ["open", "increase", "freeze", "unfreeze", "hold"]
    assert topics(container)[-2:] == ["notice.line_improved", "event.hold_placed"]
    assert container.ledger.sweep() == {
        "holds_released": 0,
        "freezes_ended": 0,
        "closes_applied": 0,
        "failed": 0,
    }


def test_posting_on_a_line_whose_freeze_ended_lifts_it_first(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    container.ledger.change_limit(
        agent, "f", line_id, "freeze", ["fraud_suspected"], until=START + timedelta(minutes=10)
    )
    clock.advance(timedelta(minutes=15))
    line = container.loans.post_drawdown(borrower, "p", drawdown_id).document["line"]
    assert (line["status"], line["principal_outstanding"]) == ("active", "5000.00")
    assert len(rows(container, decisions, decisions.c.action == "unfreeze")) == 1


def test_a_refused_hold_does_not_keep_the_lifted_freeze(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    freeze(container, agent, line_id)
    clock.advance(timedelta(days=1))
    refused(
        container,
        InsufficientAvailableCredit,
        lambda: container.ledger.place_hold(borrower, "h", line_id, "20000.01", 12),
    )
    assert container.ledger.get_line(borrower, line_id)["status"] == "frozen"


# --- journal ----------------------------------------------------------------------------------
def test_the_journal_pages_in_order(container: Container, agent: Actor, borrower: Actor) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id, key="h-1")
    hold(container, borrower, line_id, "1000.00", key="h-2")
    container.ledger.void_drawdown(borrower, "v", drawdown_id)
    ledger = container.ledger
    pages = [ledger.journal(borrower, line_id, limit=2)]
    pages.append(ledger.journal(borrower, line_id, after_seq=pages[-1]["next_after_seq"], limit=2))
    pages.append(ledger.journal(borrower, line_id, after_seq=pages[-1]["next_after_seq"], limit=2))
    # The opening and its grant, two holds, the void.
    assert [[e["seq"] for e in p["entries"]] for p in pages] == [[1, 2], [3, 4], [5]]
    assert [p["next_after_seq"] for p in pages] == [2, 4, None]
    entries = pages[0]["entries"] + pages[1]["entries"] + pages[2]["entries"]
    assert [e["prev_hash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]


def test_a_journal_entry_shows_amounts_and_balances(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    drawdown_id = hold(container, borrower, line_id)
    entry = container.ledger.journal(borrower, line_id, after_seq=2)["entries"][0]
    assert {k: v for k, v in entry.items() if k not in ("prev_hash", "hash")} == {
        "seq": 3,  # after the opening and its grant
        "kind": "hold",
        "at": "2026-11-28T09:00:00+00:00",
        "limit_delta": "0.00",
        "principal_delta": "0.00",
        "held_delta": "5000.00",
        "limit_after": "20000.00",
        "principal_after": "0.00",
        "held_after": "5000.00",
        "available_after": "15000.00",
        "status_after": "active",
        "drawdown_id": drawdown_id,
        "loan_id": None,
        "decision_id": None,
    }


@pytest.mark.parametrize(("after_seq", "limit"), [(0, 0), (0, 501), (-1, 10), (2**31, 10)])
def test_journal_paging_is_bounded(
    container: Container, agent: Actor, borrower: Actor, after_seq: int, limit: int
) -> None:
    line_id = open_line(container, agent, borrower)
    with pytest.raises(InvalidInput):
        container.ledger.journal(agent, line_id, after_seq=after_seq, limit=limit)


def test_a_full_page_of_500_is_allowed(container: Container, agent: Actor, borrower: Actor) -> None:
    line_id = open_line(container, agent, borrower)
    page = container.ledger.journal(agent, line_id, limit=500)
    assert (len(page["entries"]), page["next_after_seq"]) == (2, None)  # opening, grant


# --- reason codes -----------------------------------------------------------------------------
def test_the_reason_code_catalogue(container: Container) -> None:
    catalogue = catalogue_documents()
    assert [entry["code"] for entry in catalogue] == list(REASON_CATALOGUE)
    by_code = {entry["code"]: entry for entry in catalogue}
    assert by_code["freeze_ended"] == {
        "code": "freeze_ended",
        "adverse": False,
        "borrower_initiated": False,
        "text": {"en": "The temporary freeze reached its end date", "zh-CN": "临时冻结已到期"},
        "operator_text": "A temporary freeze reached its end date.",
        "next_step": {"step": "none", "en": "Nothing to do", "zh-CN": "无需操作"},
    }
    assert by_code["overdue_payment"]["next_step"]["step"] == "repay_overdue"
    borrower_request = by_code["borrower_request"]
    assert (borrower_request["adverse"], borrower_request["borrower_initiated"]) == (False, True)
    assert by_code["fraud_suspected"]["adverse"] is True


# --- outbox -----------------------------------------------------------------------------------
def test_every_decision_has_one_notice_with_its_document(
    container: Container, clock: FixedClock, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    documents = [
        freeze(container, agent, line_id),
        container.ledger.change_limit(
            approver, "dec", line_id, "decrease", ["utilisation_high"], limit="9000.00"
        ).document,
    ]
    clock.advance(timedelta(days=1))
    container.ledger.sweep()
    [grant] = rows(container, decisions, decisions.c.action == "increase")
    [thaw] = rows(container, decisions, decisions.c.action == "unfreeze")
    notices = [m for m in outbox_rows(container) if m["topic"].startswith("notice.")]
    granted = notices.pop(0)
    assert (granted["topic"], granted["ref_id"]) == ("notice.line_improved", grant["id"])
    assert [(m["topic"], m["ref_id"]) for m in notices] == [
        ("notice.adverse_change", documents[0]["decision"]["id"]),
        ("notice.adverse_change", documents[1]["decision"]["id"]),
        ("notice.line_improved", thaw["id"]),
    ]
    assert all((m["line_id"], m["borrower_id"]) == (line_id, "borrower-1") for m in notices)
    for message, document in zip(notices, documents, strict=False):
        assert json.loads(message["payload"]) == document


def test_every_command_writes_its_message(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    loan_id = loan(container, borrower, line_id)
    container.ledger.void_drawdown(borrower, "v", hold(container, borrower, line_id, key="h-v"))
    hold(container, borrower, line_id, key="h-x")
    container.loans.repay(borrower, "r-1", loan_id, "1.00")
    container.loans.repay(borrower, "r-2", loan_id, "4999.00")
    clock.advance(timedelta(hours=1))
    container.ledger.sweep()
    assert topics(container) == [
        "event.line_opened",
        "notice.line_improved",  # the staff member's grant of the first limit
        "event.hold_placed",
        "event.loan_opened",
        "event.hold_placed",
        "event.hold_voided",
        "event.hold_placed",
        "event.repayment_received",
        # 1.00 on the interest-free loan repays part of its one instalment of principal, due
        # in a year: the schedule changes and the borrower is told.
        "notice.schedule_changed",
        "notice.loan_settled",
        "event.hold_expired",
    ]
    assert all(m["delivered_at"] is None and m["attempts"] == 0 for m in outbox_rows(container))


# --- the store's own guards ---------------------------------------------------------------------
def _raw_update(c: Container, statement: Any) -> None:
    with c.db.engine.begin() as connection:
        connection.execute(statement)


@pytest.mark.parametrize(
    "values",
    [
        {"held_minor": -1},
        {"principal_outstanding_minor": -1},
        {"limit_minor": -1},
        {"held_minor": lines.c.limit_minor + 1},
        {"status": "bogus"},
        {"status": "frozen"},
        {"frozen_until": START},
    ],
)
def test_line_check_constraints(
    container: Container, agent: Actor, borrower: Actor, values: dict[str, Any]
) -> None:
    open_line(container, agent, borrower)
    before = everything(container)
    with pytest.raises(IntegrityError):
        _raw_update(container, update(lines).values(**values))
    assert everything(container) == before


@pytest.mark.parametrize(
    ("table", "values"),
    [
        (drawdowns, {"status": "posted"}),
        (drawdowns, {"posted_minor": 500_001}),
        (drawdowns, {"amount_minor": 0}),
        (loans, {"status": "settled"}),
        (loans, {"principal_outstanding_minor": 0}),
        (loans, {"principal_outstanding_minor": 500_001}),
    ],
)
def test_drawdown_and_loan_check_constraints(
    container: Container, agent: Actor, borrower: Actor, table: Table, values: dict[str, Any]
) -> None:
    line_id = open_line(container, agent, borrower)
    loan(container, borrower, line_id)
    hold(container, borrower, line_id, key="live")
    statement = update(table).values(**values)
    if table is drawdowns:
        statement = statement.where(drawdowns.c.status == "held")
    with pytest.raises(IntegrityError):
        _raw_update(container, statement)


@pytest.mark.parametrize(
    "statement",
    [update(journal).values(held_delta_minor=0), delete(journal)],
    ids=["update", "delete"],
)
def test_the_journal_is_append_only(
    container: Container, agent: Actor, borrower: Actor, statement: Any
) -> None:
    line_id = open_line(container, agent, borrower)
    hold(container, borrower, line_id)
    before = rows(container, journal)
    with pytest.raises(DBAPIError, match="append-only"):
        _raw_update(container, statement)
    assert rows(container, journal) == before


def test_a_refused_drawdown_on_a_frozen_line_names_the_freeze_reasons(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    ledger = container.ledger
    line = ledger.open_line(agent, "why-open", borrower.subject, "CNY", "1000.00").document
    until = container.clock.now() + timedelta(days=2)
    frozen = ledger.change_limit(
        agent,
        "why-freeze",
        line["id"],
        "freeze",
        ["multiple_lenders", "bureau_inquiries"],
        until=until,
    ).document
    with pytest.raises(LineFrozen) as refused:
        ledger.place_hold(borrower, "why-hold", line["id"], "10.00", 3)
    details = refused.value.details
    assert details["decision_id"] == frozen["decision"]["id"]
    assert details["frozen_until"] == until.isoformat()
    assert [r["code"] for r in details["reasons"]] == ["multiple_lenders", "bureau_inquiries"]
    assert details["reasons"][0]["zh-CN"] == "在多家机构有未结清借款(多头借贷)"
    assert "multiple_lenders" in refused.value.message


def test_lines_are_listed_for_their_borrower_only(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    ledger = container.ledger
    first = ledger.open_line(agent, "list-1", borrower.subject, "CNY", "1000.00").document
    second = ledger.open_line(agent, "list-2", borrower.subject, "USD", "50.00").document
    ledger.open_line(agent, "list-3", "someone-else", "CNY", "900.00")
    mine = ledger.list_lines(borrower)["lines"]
    assert [(line["id"], line["limit"]) for line in mine] == [
        (first["id"], "1000.00"),
        (second["id"], "50.00"),
    ]
    assert ledger.list_lines(borrower, "someone-else") == {"lines": []}
    assert [line["borrower_id"] for line in ledger.list_lines(agent, "someone-else")["lines"]] == [
        "someone-else"
    ]
    with pytest.raises(InvalidInput):
        ledger.list_lines(agent)


def test_decisions_are_append_only(container: Container, agent: Actor, borrower: Actor) -> None:
    line = container.ledger.open_line(agent, "ao-open", borrower.subject, "CNY", "1000.00").document
    container.ledger.change_limit(agent, "ao-suspend", line["id"], "suspend", ["fraud_suspected"])
    for statement in (update(decisions).values(note="rewritten"), delete(decisions)):
        with pytest.raises(DBAPIError), container.db.engine.begin() as connection:
            connection.execute(statement)
    assert [row["note"] for row in rows(container, decisions)] == [None, None]  # grant, suspend
