"""Per-borrower rate limits on asking for reviews, applying and verifying, counted in the store:
N requests in the window pass, the next is refused with the seconds until the oldest counted
one leaves the window, nothing is written, a replay is never limited, and once the window has
passed a request is allowed again."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from conftest import START
from sqlalchemy import Table, func, select

from creditline.bootstrap import Container
from creditline.config import (
    APPLICATIONS_PER_WINDOW_MAX_DEFAULT,
    REVIEWS_PER_WINDOW_MAX_DEFAULT,
    VERIFICATIONS_PER_WINDOW_MAX_DEFAULT,
)
from creditline.db.commands import CommandResult
from creditline.decisions.applications import Application
from creditline.decisions.rate_limits import retry_after_seconds
from creditline.decisions.tables import applications, reviews, verifications
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import RateLimited

WINDOW = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
IDENTITY = {"document_type": "id_card", "document_number": "110101199005010011",
            "full_name": "李伟"}  # fmt: skip
AGENT = Actor("agent-1", Role.AGENT)

Ask = Callable[[Container, Actor, str, str], CommandResult]


def application(borrower_id: str) -> Application:
    return Application(
        borrower_id, "CNY", "12000.00", True, dt.date(2027, 6, 30), dt.date(1990, 5, 1), "employed"
    )


def _open_line(c: Container, borrower: Actor) -> str:
    return str(
        c.ledger.open_line(
            AGENT, f"open-{borrower.subject}", borrower.subject, "CNY", "20000.00"
        ).document["id"]
    )


@dataclass(frozen=True)
class UseCase:
    name: str
    count_max: int
    table: Table
    ask: Ask  # (container, actor, key, line_id) → the command's result


USE_CASES = [
    UseCase(
        "review",
        REVIEWS_PER_WINDOW_MAX_DEFAULT,
        reviews,
        lambda c, actor, key, line_id: c.appeals.request(actor, key, line_id),
    ),
    UseCase(
        "application",
        APPLICATIONS_PER_WINDOW_MAX_DEFAULT,
        applications,
        lambda c, actor, key, _: c.underwriting.apply(actor, key, application("borrower-1")),
    ),
    UseCase(
        "verification",
        VERIFICATIONS_PER_WINDOW_MAX_DEFAULT,
        verifications,
        lambda c, actor, key, _: c.verifications.submit(actor, key, "identity", IDENTITY),
    ),
]


def _rows(c: Container, table: Table, borrower_id: str) -> int:
    query = select(func.count()).select_from(table).where(table.c.borrower_id == borrower_id)
    return int(c.db.read(lambda tx: tx.connection.execute(query).scalar_one()))


@pytest.fixture
def container(roomy: Container) -> Container:
    """Several applications by one borrower: a profile that lets them open several lines."""
    return roomy


@pytest.mark.parametrize("case", USE_CASES, ids=lambda case: case.name)
def test_n_requests_pass_the_next_waits_for_the_oldest_to_leave_the_window(
    container: Container, clock: FixedClock, borrower: Actor, case: UseCase
) -> None:
    line_id = _open_line(container, borrower)
    first_at = clock.now()
    answers = []
    for n in range(case.count_max):
        answers.append(case.ask(container, borrower, f"k{n}", line_id))
        clock.advance(MINUTE)
    rows = _rows(container, case.table, borrower.subject)

    with pytest.raises(RateLimited) as refused:
        case.ask(container, borrower, "one-more", line_id)
    expected = int((first_at + WINDOW - clock.now()).total_seconds())
    assert expected == 3600 - 60 * case.count_max
    assert refused.value.code == "rate_limited"
    assert refused.value.retry_after_seconds == expected
    assert refused.value.details["limit"] == case.count_max
    assert _rows(container, case.table, borrower.subject) == rows  # nothing written

    # A replay is answered from its stored response, never limited.
    replayed = case.ask(container, borrower, "k0", line_id)
    assert replayed.replayed and replayed.document == answers[0].document

    # One second short of the window, still refused; then the oldest request has left it.
    clock.advance(timedelta(seconds=expected - 1))
    with pytest.raises(RateLimited) as still:
        case.ask(container, borrower, "one-more", line_id)
    assert still.value.retry_after_seconds == 1
    clock.advance(timedelta(seconds=1))
    assert not case.ask(container, borrower, "one-more", line_id).replayed
    assert _rows(container, case.table, borrower.subject) > rows


def test_staff_asking_for_a_borrower_count_against_the_borrower(
    container: Container, clock: FixedClock, borrower: Actor
) -> None:
    line_id = _open_line(container, borrower)
    for n in range(REVIEWS_PER_WINDOW_MAX_DEFAULT - 1):
        container.appeals.request(borrower, f"mine-{n}", line_id)
    container.appeals.request(AGENT, "agent-asks", line_id)
    for actor in (borrower, AGENT):
        with pytest.raises(RateLimited):
            container.appeals.request(actor, "too-many", line_id)
    # Applications made by staff for the borrower count as the borrower's.
    for n in range(APPLICATIONS_PER_WINDOW_MAX_DEFAULT):
        container.underwriting.apply(AGENT, f"app-{n}", application(borrower.subject))
    with pytest.raises(RateLimited):
        container.underwriting.apply(borrower, "app-mine", application(borrower.subject))


def test_one_borrowers_limit_leaves_another_borrower_alone(
    container: Container, clock: FixedClock, borrower: Actor
) -> None:
    other = Actor("borrower-2", Role.BORROWER)
    mine, theirs = _open_line(container, borrower), _open_line(container, other)
    for n in range(VERIFICATIONS_PER_WINDOW_MAX_DEFAULT):
        container.verifications.submit(borrower, f"v{n}", "identity", IDENTITY)
    with pytest.raises(RateLimited):
        container.verifications.submit(borrower, "v-more", "identity", IDENTITY)
    assert container.verifications.submit(other, "v0", "identity", IDENTITY).document["id"]
    # The borrower's review limit is separate from their verification limit.
    assert container.appeals.request(borrower, "r0", mine).document
    assert container.appeals.request(other, "r0", theirs).document


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after_seconds(START, WINDOW, START + WINDOW - timedelta(milliseconds=1)) == 1
    assert retry_after_seconds(START, WINDOW, START + timedelta(milliseconds=500)) == 3600
    assert retry_after_seconds(START, WINDOW, START + WINDOW) == 1


@pytest.mark.slow
def test_requests_at_once_are_counted_one_after_another(
    container: Container, borrower: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    _open_line(container, borrower)
    verifier = container.verifications._verifier
    real = verifier.verify

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.05)  # between the count and the row: racing requests overlap here
        return real(*args, **kwargs)

    monkeypatch.setattr(verifier, "verify", slow)
    racers = VERIFICATIONS_PER_WINDOW_MAX_DEFAULT + 2
    start = threading.Barrier(racers)
    outcomes: list[Any] = [None] * racers

    def run(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = container.verifications.submit(
                borrower, f"at-once-{index}", "identity", IDENTITY
            )
        except Exception as error:  # the outcome under test
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    passed = [o for o in outcomes if isinstance(o, CommandResult)]
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert (len(passed), len(refused)) == (VERIFICATIONS_PER_WINDOW_MAX_DEFAULT, 2), outcomes
    assert _rows(container, verifications, borrower.subject) == VERIFICATIONS_PER_WINDOW_MAX_DEFAULT
