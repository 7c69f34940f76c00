from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.ledger.journal import GENESIS_HASH, JournalEntry, entry_fields, entry_hash
from creditline.ledger.reconcile import Finding
from creditline.ledger.tables import decisions, drawdowns, journal, lines
from creditline.loans.tables import instalments, loans
from creditline.notices.tables import outbox

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
OTHER = Actor("borrower-2", Role.BORROWER)


@pytest.fixture
def book(
    container: Container, clock: FixedClock, agent: Actor, approver: Actor, borrower: Actor
) -> dict[str, str]:
    """A line that has been through every kind of movement, and a quiet second line."""
    ledger = container.ledger
    line_id = ledger.open_line(agent, "o-1", borrower.subject, "CNY", "20000.00").document["id"]
    quiet_id = ledger.open_line(agent, "o-2", OTHER.subject, "CNY", "1000.00").document["id"]
    drawdown = ledger.place_hold(borrower, "h-1", line_id, "5000.00", 12).document["id"]
    loan_id = container.loans.post_drawdown(borrower, "p-1", drawdown, "4000.00").document[
        "loan_id"
    ]
    settled = ledger.place_hold(borrower, "h-2", line_id, "1000.00", 6).document["id"]
    settled_loan = container.loans.post_drawdown(borrower, "p-2", settled).document["loan_id"]
    container.loans.repay(borrower, "r-1", settled_loan, "1000.00")
    container.loans.repay(borrower, "r-2", loan_id, "1500.00")
    ledger.place_hold(borrower, "h-3", line_id, "700.00", 3)
    ledger.change_limit(
        approver, "d-1", line_id, "decrease", ["utilisation_high"], limit="15000.00"
    )
    ledger.change_limit(
        agent, "f-1", line_id, "freeze", ["fraud_suspected"], until=START + timedelta(hours=1)
    )
    clock.advance(timedelta(hours=2))
    ledger.sweep()  # expires h-3 and ends the freeze
    ledger.place_hold(borrower, "h-4", line_id, "300.00", 12)
    return {"line": line_id, "quiet": quiet_id, "loan": loan_id, "settled_loan": settled_loan}


@contextmanager
def raw(container: Container) -> Iterator[Connection]:
    with container.db.engine.begin() as connection:
        yield connection


@contextmanager
def unguarded(container: Container, table: str, operation: str) -> Iterator[Connection]:
    """A transaction in which `table`'s append-only guard lets `operation` through (on
    PostgreSQL the whole guard is off until it commits)."""
    with raw(container) as connection:
        if container.db.dialect == "postgresql":
            # DDL is transactional on PostgreSQL: the guard is back when this commits.
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            yield connection
            connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        else:  # each SQLite test has its own database file
            connection.execute(text(f"DROP TRIGGER {table}_no_{operation}"))
            yield connection


def journal_unguarded(container: Container) -> Any:
    """A transaction in which the append-only guard on the journal is off."""
    return unguarded(container, "journal", "update")


def checks(findings: list[Finding]) -> set[tuple[str, str | None]]:
    return {(finding.check, finding.line_id) for finding in findings}


def last_entry(container: Container, line_id: str) -> JournalEntry:
    query = select(journal).where(journal.c.line_id == line_id).order_by(journal.c.seq.desc())
    with raw(container) as connection:
        return JournalEntry(**connection.execute(query).mappings().first())  # type: ignore[arg-type]


def test_a_clean_book_reconciles(container: Container, book: dict[str, str]) -> None:
    assert container.reconciler.run() == []
    assert container.reconciler.count_lines() == 2
    line = container.ledger.get_line(Actor("a", Role.AGENT), book["line"])
    assert (line["limit"], line["principal_outstanding"], line["held"], line["status"]) == (
        "15000.00",
        "2500.00",
        "300.00",
        "active",
    )


def test_an_empty_book_reconciles(container: Container) -> None:
    assert container.reconciler.run() == []
    assert container.reconciler.count_lines() == 0


def test_progress_is_reported_once_per_line(container: Container, book: dict[str, str]) -> None:
    ticks: list[int] = []
    container.reconciler.run(ticks.append)
    assert ticks == [1, 1]


def test_extra_held_credit_is_found(container: Container, book: dict[str, str]) -> None:
    with raw(container) as connection:
        connection.execute(
            update(lines)
            .where(lines.c.id == book["line"])
            .values(held_minor=lines.c.held_minor + 1)
        )
    findings = container.reconciler.run()
    assert checks(findings) == {
        ("snapshot_equals_journal", book["line"]),
        ("held_equals_live_holds", book["line"]),
    }
    [held] = [f for f in findings if f.check == "held_equals_live_holds"]
    assert held.detail == "line holds 30001 but live drawdowns hold 30000"


def test_a_limit_overwritten_outside_the_ledger_is_found(
    container: Container, book: dict[str, str]
) -> None:
    # The complaint creditline exists for: a job overwrites the limit with a stale value.
    overwrite = update(lines).where(lines.c.id == book["line"])
    with pytest.raises(IntegrityError, match="utilisation_within_limit"), raw(container) as c:
        c.execute(overwrite.values(limit_minor=0))  # the CHECK refuses a limit below use ...
    with raw(container) as connection:
        connection.execute(overwrite.values(limit_minor=280_000))
    [finding] = container.reconciler.run()  # ... and the reconciler catches the rest
    assert (finding.check, finding.line_id) == ("snapshot_equals_journal", book["line"])
    assert "line is active with limit=280000 " in finding.detail
    assert "journal sums limit=1500000 " in finding.detail


def test_principal_without_a_loan_is_found(container: Container, book: dict[str, str]) -> None:
    with raw(container) as connection:
        connection.execute(
            update(lines)
            .where(lines.c.id == book["quiet"])
            .values(principal_outstanding_minor=50_000)
        )
    assert checks(container.reconciler.run()) == {
        ("snapshot_equals_journal", book["quiet"]),
        ("utilisation_equals_open_loans", book["quiet"]),
    }


def test_a_loan_repaid_outside_the_ledger_is_found(
    container: Container, book: dict[str, str]
) -> None:
    with raw(container) as connection:
        connection.execute(
            update(loans).where(loans.c.id == book["loan"]).values(principal_outstanding_minor=1)
        )
    findings = container.reconciler.run()
    assert checks(findings) == {
        ("utilisation_equals_open_loans", book["line"]),
        ("loan_principal_restored", book["line"]),
        ("loan_equals_schedule", book["line"]),
    }
    [restored] = [f for f in findings if f.check == "loan_principal_restored"]
    assert f"loan {book['loan']} (open) owes 1 but its journal nets 250000" in restored.detail


def test_a_loan_settled_without_restoring_the_line_is_found(
    container: Container, book: dict[str, str]
) -> None:
    # "I settled my loan and the line shows 0": settled, but the principal never came back.
    with raw(container) as connection:
        connection.execute(
            update(loans)
            .where(loans.c.id == book["loan"])
            .values(principal_outstanding_minor=0, status="settled", settled_at=START)
        )
    assert {f.check for f in container.reconciler.run()} == {
        "utilisation_equals_open_loans",
        "loan_principal_restored",
        "loan_equals_schedule",
        "notice_written",
    }


def test_an_instalment_paid_outside_the_ledger_is_found(
    container: Container, book: dict[str, str]
) -> None:
    with raw(container) as connection:
        connection.execute(
            update(instalments)
            .where(instalments.c.loan_id == book["loan"])
            .values(paid_principal_minor=instalments.c.principal_minor)
        )
    findings = container.reconciler.run()
    assert checks(findings) == {("loan_equals_schedule", book["line"])}
    [found] = findings
    assert f"loan {book['loan']} owes 250000 of principal but its instalments owe 0" in (
        found.detail
    )


def test_a_hold_resolved_outside_the_ledger_is_found(
    container: Container, book: dict[str, str]
) -> None:
    with raw(container) as connection:
        connection.execute(
            update(drawdowns).where(drawdowns.c.status == "held").values(status="voided")
        )
    assert checks(container.reconciler.run()) == {("held_equals_live_holds", book["line"])}


def test_a_forged_journal_row_is_found(container: Container, book: dict[str, str]) -> None:
    # The quiet line's opening and its grant are entries 1 and 2; the forgery copies the grant
    # but does not chain to it.
    head = last_entry(container, book["quiet"])
    with raw(container) as connection:
        connection.execute(insert(journal).values(_as_row(head, seq=3, hash="f" * 64)))
    findings = container.reconciler.run()
    assert checks(findings) == {
        ("snapshot_equals_journal", book["quiet"]),
        ("hash_chain_intact", book["quiet"]),
    }
    [chain] = [f for f in findings if f.check == "hash_chain_intact"]
    assert chain.detail == "entry 3 does not chain to the entry before it"


def test_a_forged_row_that_chains_but_does_not_hash_is_found(
    container: Container, book: dict[str, str]
) -> None:
    head = last_entry(container, book["quiet"])
    forged = _as_row(head, seq=head.seq + 1, prev_hash=head.hash, hash="f" * 64)
    with raw(container) as connection:
        connection.execute(insert(journal).values(forged))
    [chain] = [f for f in container.reconciler.run() if f.check == "hash_chain_intact"]
    assert (chain.line_id, chain.detail) == (book["quiet"], "entry 3 does not match its hash")


def test_a_gap_in_the_sequence_is_found(container: Container, book: dict[str, str]) -> None:
    head = last_entry(container, book["quiet"])
    forged = _as_row(head, seq=head.seq + 2, prev_hash=head.hash)
    forged["hash"] = entry_hash(head.hash, entry_fields(JournalEntry(**forged)))
    with raw(container) as connection:
        connection.execute(insert(journal).values(forged))
    [chain] = [f for f in container.reconciler.run() if f.check == "hash_chain_intact"]
    assert chain.detail == "entry 4 where 3 was expected"  # after the opening and its grant


def test_an_altered_journal_row_is_found(container: Container, book: dict[str, str]) -> None:
    with journal_unguarded(container) as connection:
        connection.execute(
            update(journal)
            .where(journal.c.line_id == book["line"], journal.c.seq == 2)
            .values(held_delta_minor=1)
        )
    findings = container.reconciler.run()
    assert checks(findings) == {
        ("snapshot_equals_journal", book["line"]),
        ("hash_chain_intact", book["line"]),
    }
    [chain] = [f for f in findings if f.check == "hash_chain_intact"]
    assert chain.detail == "entry 2 does not match its hash"


def test_a_rehashed_entry_whose_balances_do_not_follow_is_found(
    container: Container, book: dict[str, str]
) -> None:
    # A forger who recomputes the hash and moves the head still cannot fake the balances.
    head = last_entry(container, book["line"])
    forged = _as_row(head, limit_after_minor=head.limit_after_minor + 100)
    forged["hash"] = entry_hash(head.prev_hash, entry_fields(JournalEntry(**forged)))
    with journal_unguarded(container) as connection:
        connection.execute(
            update(journal)
            .where(journal.c.line_id == head.line_id, journal.c.seq == head.seq)
            .values(limit_after_minor=forged["limit_after_minor"], hash=forged["hash"])
        )
        connection.execute(
            update(lines).where(lines.c.id == head.line_id).values(head_hash=forged["hash"])
        )
    [finding] = container.reconciler.run()
    assert (finding.check, finding.line_id) == ("hash_chain_intact", book["line"])
    assert finding.detail == f"entry {head.seq} balances-after do not follow from its deltas"


def test_the_delete_guard_survives_tampering(container: Container, book: dict[str, str]) -> None:
    with journal_unguarded(container):
        pass
    with pytest.raises(DBAPIError, match="append-only"), raw(container) as connection:
        connection.execute(delete(journal))


def test_a_line_without_a_journal_is_found(container: Container, book: dict[str, str]) -> None:
    with raw(container) as connection:
        connection.execute(
            insert(lines).values(
                id="line-out-of-nowhere",
                borrower_id="b-9",
                currency="CNY",
                limit_minor=100,
                principal_outstanding_minor=0,
                held_minor=0,
                status="active",
                version=0,
                head_hash=GENESIS_HASH,
                created_at=START,
                updated_at=START,
            )
        )
    assert checks(container.reconciler.run()) == {
        ("snapshot_equals_journal", "line-out-of-nowhere")
    }


def test_a_missing_decision_record_is_found(container: Container, book: dict[str, str]) -> None:
    with unguarded(container, "decisions", "delete") as connection:
        decision_id = connection.execute(
            select(decisions.c.id).where(decisions.c.action == "decrease")
        ).scalar_one()
        connection.execute(delete(decisions).where(decisions.c.id == decision_id))
    [finding] = container.reconciler.run()
    assert (finding.check, finding.line_id) == ("decision_recorded", book["line"])
    assert f"names decision {decision_id}, which is missing" in finding.detail


def test_a_decision_without_a_notice_is_found(container: Container, book: dict[str, str]) -> None:
    with raw(container) as connection:
        thaw_id = connection.execute(
            select(decisions.c.id).where(decisions.c.action == "unfreeze")
        ).scalar_one()
        connection.execute(delete(outbox).where(outbox.c.ref_id == thaw_id))
    [finding] = container.reconciler.run()
    assert finding == Finding("notice_written", book["line"], f"decision {thaw_id} has no notice")


def test_a_settlement_without_a_notice_is_found(container: Container, book: dict[str, str]) -> None:
    with raw(container) as connection:
        connection.execute(delete(outbox).where(outbox.c.topic == "notice.loan_settled"))
    [finding] = container.reconciler.run()
    assert finding.as_dict() == {
        "check": "notice_written",
        "line_id": book["line"],
        "detail": f"settled loan {book['settled_loan']} has no notice",
    }


def test_findings_name_only_the_tampered_line(container: Container, book: dict[str, str]) -> None:
    with raw(container) as connection:
        connection.execute(update(lines).where(lines.c.id == book["quiet"]).values(limit_minor=999))
    assert {finding.line_id for finding in container.reconciler.run()} == {book["quiet"]}


def _as_row(entry: JournalEntry, **changes: Any) -> dict[str, Any]:
    return {**{name: getattr(entry, name) for name in JournalEntry.__slots__}, **changes}


def test_a_silent_suspension_is_found(container: Container, book: dict[str, str]) -> None:
    """The article's complaint: a line stops working and nothing says why."""
    with raw(container) as connection:
        connection.execute(
            update(lines).where(lines.c.id == book["quiet"]).values(status="suspended")
        )
    assert checks(container.reconciler.run()) == {
        ("snapshot_equals_journal", book["quiet"]),
        ("status_explained", book["quiet"]),
    }


def test_a_decision_entry_without_its_decision_is_found(
    container: Container, book: dict[str, str]
) -> None:
    with journal_unguarded(container) as connection:
        connection.execute(
            update(journal)
            .where(journal.c.line_id == book["line"], journal.c.kind == "decrease")
            .values(decision_id=None)
        )
    findings = container.reconciler.run()
    assert ("decision_recorded", book["line"]) in checks(findings)
    assert any("(decrease) has no decision" in f.detail for f in findings)
