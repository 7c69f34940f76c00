"""A small book whose portfolio figures the tests work out by hand (tests/integration/
test_portfolio_figures.py). Times are UTC; the test catalogue's CNY lines do business in
Shanghai (UTC+8), so 02:00 UTC is 10:00 there, the same calendar day.

    line  opened      limit   scored (decision evidence)  borrowing
    L1    2026-01-05  10,000  increase to 12,000, A 700   6,000 / 3 months on 01-06, never repaid
    L2    2026-01-05  10,000  increase to 11,000, A 720   500 on 12-02, repaid 12-05 (active)
    L3    2026-12-01   5,000  increase to 6,000, B 660    3,000 / 3 months on 12-01; frozen 01-05
    L4    2026-12-01   2,000  none                        1,000 on 12-01; frozen 12-10 to 12-20;
                                                          repaid 12-15; the sweep restores 12-21
    L5    2026-12-01   2,000  none                        2,000 held on 12-01, posted
    L6    2026-12-01   1,000  none                        a journal entry with no decision and no
                                                          drawdown holds it all on 12-02 (a defect)

Each line opens at 0 and the agent's decision grants its limit (an increase, reason
application_approved); the four grants of 12-01 02:00 are delivered at 04:00, two hours after.
Notices: the increase of L3 is delivered an hour after it, the freeze of L4 two hours after;
the freeze of L3 is not delivered. Human reviews: L4's borrower contests the freeze on 12-11,
an agent upholds it on 12-12; L3's borrower contests its freeze on 01-06 (open).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import insert, select

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.ids import new_id
from creditline.ledger.tables import journal

AGENT = Actor("agent-1", Role.AGENT)
APPROVER = Actor("approver-1", Role.APPROVER)
AS_OF = dt.date(2027, 1, 10)


def at(day: str, hour: int = 2) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


@dataclass
class Book:
    lines: dict[str, str]
    borrowers: dict[str, Actor]
    decisions: dict[str, str]


def build_book(c: Container, clock: FixedClock) -> Book:
    book = Book({}, {}, {})

    def open_line(name: str, day: str, limit: str) -> None:
        clock.set(at(day))
        book.borrowers[name] = Actor(f"borrower-{name}", Role.BORROWER)
        book.lines[name] = c.ledger.open_line(
            AGENT, new_id(), f"borrower-{name}", "CNY", limit
        ).document["id"]

    def decide(name: str, day: str, action: str, reasons: list[str], **kw: object) -> str:
        clock.set(at(day, kw.pop("hour", 3)))  # type: ignore[arg-type]
        actor = APPROVER if action in ("increase", "decrease") else AGENT
        done = c.ledger.change_limit(actor, new_id(), book.lines[name], action, reasons, **kw)
        book.decisions[f"{name}-{action}"] = done.document["decision"]["id"]
        return book.decisions[f"{name}-{action}"]

    def borrow(name: str, day: str, amount: str, months: int = 3) -> str:
        clock.set(at(day, 4))
        who = book.borrowers[name]
        held = c.ledger.place_hold(who, new_id(), book.lines[name], amount, months).document
        return str(c.loans.post_drawdown(who, new_id(), held["id"]).document["loan_id"])

    def repay(name: str, loan: str, day: str, amount: str) -> None:
        clock.set(at(day, 5))
        c.loans.repay(book.borrowers[name], new_id(), loan, amount)

    def deliver(day: str, hour: int) -> None:
        clock.set(at(day, hour))
        c.dispatcher.run_until_idle()

    open_line("L1", "2026-01-05", "10000.00")
    open_line("L2", "2026-01-05", "10000.00")
    decide(
        "L1",
        "2026-01-05",
        "increase",
        ["good_repayment_history"],
        limit="12000.00",
        evidence={"score": 700, "grade": "A"},
    )
    decide(
        "L2",
        "2026-01-05",
        "increase",
        ["good_repayment_history"],
        limit="11000.00",
        evidence={"score": 720, "grade": "A"},
    )
    borrow("L1", "2026-01-06", "6000.00")
    deliver("2026-01-07", 2)
    for name, limit in (("L3", "5000.00"), ("L4", "2000.00"), ("L5", "2000.00"), ("L6", "1000.00")):
        open_line(name, "2026-12-01", limit)
    decide(
        "L3",
        "2026-12-01",
        "increase",
        ["good_repayment_history"],
        limit="6000.00",
        evidence={"score": 660, "grade": "B"},
    )
    deliver("2026-12-01", 4)  # an hour after the increase (03:00)
    l3_loan = borrow("L3", "2026-12-01", "3000.00")
    l4_loan = borrow("L4", "2026-12-01", "1000.00")
    borrow("L5", "2026-12-01", "2000.00")
    _holding_entry(c, book.lines["L6"], at("2026-12-02"))
    l2_loan = borrow("L2", "2026-12-02", "500.00", 1)
    repay("L2", l2_loan, "2026-12-05", "500.00")
    decide("L4", "2026-12-10", "freeze", ["drawdown_velocity"], until=at("2026-12-20"))
    deliver("2026-12-10", 5)  # two hours after the freeze
    clock.set(at("2026-12-11"))
    c.appeals.request(
        book.borrowers["L4"],
        new_id(),
        book.lines["L4"],
        contest=True,
        reason_text="I always pay on time",
    )
    clock.set(at("2026-12-12"))
    [review] = c.appeals.queue(AGENT, "open")["reviews"]
    c.appeals.decide(AGENT, new_id(), review["id"], "uphold", ["drawdown_velocity"])
    deliver("2026-12-12", 3)
    repay("L4", l4_loan, "2026-12-15", "1000.00")
    clock.set(at("2026-12-21"))
    c.ledger.sweep()
    deliver("2026-12-21", 3)
    decide("L3", "2027-01-05", "freeze", ["overdue_payment"], until=at("2027-02-05"))
    clock.set(at("2027-01-06"))
    c.appeals.request(
        book.borrowers["L3"],
        new_id(),
        book.lines["L3"],
        contest=True,
        reason_text="I will pay this week",
    )
    del l3_loan
    clock.set(at("2027-01-11", 6))  # the report's date has ended in Shanghai
    return book


def _holding_entry(c: Container, line_id: str, when: dt.datetime) -> None:
    """A journal entry no command writes: the whole limit held, no decision, no drawdown."""
    with c.db.engine.begin() as connection:
        last = (
            connection.execute(
                select(journal).where(journal.c.line_id == line_id).order_by(journal.c.seq.desc())
            )
            .mappings()
            .first()
        )
        assert last is not None
        connection.execute(
            insert(journal).values(
                {
                    **last,
                    "seq": last["seq"] + 1,
                    "kind": "adjust",
                    "decision_id": None,
                    "drawdown_id": None,
                    "loan_id": None,
                    "held_delta_minor": 100000,
                    "limit_delta_minor": 0,
                    "principal_delta_minor": 0,
                    "held_after_minor": 100000,
                    "created_at": when,
                    "prev_hash": last["hash"],
                    "hash": "0" * 64,
                }
            )
        )
