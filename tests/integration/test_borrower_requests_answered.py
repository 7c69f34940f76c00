"""A borrower's request is answered, on both stores: recording it queues the borrower's notice
in the same transaction (what they asked, that a person acts on it by the profile's deadline,
that they may withdraw it), in both languages; the borrower may withdraw an open request, and
nothing grants it after; a line has one open request at a time; the decision that grants one
names it in its notice; staff list the open ones oldest first, a page at a time; a borrower
lists only their own line's; every command replays under its key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import (
    BorrowerRequestAlreadyOpen,
    BorrowerRequestMissing,
    BorrowerRequestNotFound,
    BorrowerRequestNotOpen,
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    LineNotFound,
)
from creditline.ledger.tables import borrower_requests
from creditline.notices.tables import outbox
from tests.conftest import headers, with_test_cn_setting
from tests.integration.test_appeals_races import at_once
from tests.integration.test_ledger_service import open_line, refused, rows

DAY = timedelta(days=1)
OTHER = Actor("borrower-2", Role.BORROWER)


def ask(
    c: Container, borrower: Actor, line_id: str, kind: str = "decrease", limit: str | None = None
) -> dict[str, Any]:
    limit = "5000.00" if kind == "decrease" and limit is None else limit
    key = f"ask-{line_id}-{kind}-{limit}-{c.clock.now().isoformat()}"
    return c.ledger.requests.ask(borrower, key, line_id, kind, limit).document


def notices_of(c: Container, topic: str) -> list[dict[str, Any]]:
    return [
        {**row, "payload": json.loads(row["payload"])}
        for row in sorted(rows(c, outbox, outbox.c.topic == topic), key=lambda row: row["id"])
    ]


def inbox_texts(c: Container, borrower: Actor, language: str) -> list[str]:
    """The borrower's notices, oldest first, each as its subject and body in `language`."""
    c.dispatcher.run_until_idle()
    notices = c.notices.inbox(borrower, language)["notices"]
    return [notice["subject"] + "\n" + notice["body"] for notice in reversed(notices)]


def grant(c: Container, approver: Actor, line_id: str, request: dict[str, Any]) -> Any:
    action, codes = (
        ("close", ["account_closed_by_borrower"])
        if request["kind"] == "close"
        else ("decrease", ["borrower_request"])
    )
    return c.ledger.change_limit(
        approver,
        f"grant-{request['id']}",
        line_id,
        action,
        codes,
        limit=request["limit"],
        request_id=request["id"],
    )


# --- the borrower hears back -----------------------------------------------------------------
def test_a_request_is_recorded_with_its_deadline_and_its_notice_together(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)
    asked = ask(c, borrower, line_id)
    due = clock.now() + 15 * DAY  # the test profile's review_days (the default)
    assert asked == {
        "id": asked["id"],
        "line_id": line_id,
        "borrower_id": borrower.subject,
        "kind": "decrease",
        "limit": "5000.00",
        "currency": "CNY",
        "status": "open",
        "created_at": clock.now().isoformat(),
        "due_at": due.isoformat(),
        "decision_id": None,
        "done_at": None,
        "withdrawn_at": None,
    }
    [row] = rows(c, borrower_requests)
    assert (row["status"], row["due_at"]) == ("open", due)
    [notice] = notices_of(c, "notice.request_received")
    assert (notice["line_id"], notice["borrower_id"], notice["ref_id"]) == (
        line_id,
        borrower.subject,
        asked["id"],
    )
    assert notice["payload"]["request"] == asked
    assert notice["payload"]["line"]["limit"] == "20000.00"


def test_when_the_notice_cannot_be_queued_the_request_is_not_recorded_either(
    container: Container, agent: Actor, borrower: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the outbox is unavailable")

    monkeypatch.setattr(c.outbox, "queue", broken)
    # Neither the request, nor its notice, nor its key: a retry is judged afresh.
    refused(c, RuntimeError, lambda: c.ledger.requests.ask(borrower, "k", line_id, "close"))
    monkeypatch.undo()
    retried = c.ledger.requests.ask(borrower, "k", line_id, "close")
    assert not retried.replayed
    assert len(rows(c, borrower_requests)) == len(notices_of(c, "notice.request_received")) == 1


@pytest.fixture
def weekly(database_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Container]:
    """The suite's container with a profile whose people answer within 7 days."""
    built = with_test_cn_setting(database_url, clock, tmp_path, "review_days = 7")
    yield built
    built.close()


def test_the_notice_names_the_ask_and_the_profiles_deadline_in_both_languages(
    weekly: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    c = weekly
    clock.advance(timedelta(hours=8))  # 17:00 UTC on 28 November: 01:00 on the 29th in Shanghai
    line_id = open_line(c, agent, borrower)
    asked = ask(c, borrower, line_id, "decrease", "5000.00")
    assert asked["due_at"] == (clock.now() + 7 * DAY).isoformat()  # 5 December, 17:00 UTC
    other_line = open_line(c, agent, OTHER)
    closing = ask(c, OTHER, other_line, "close")

    [en] = inbox_texts(c, borrower, "en")[-1:]
    for fact in [
        "We received your request to lower your credit limit to CNY 5,000.00\n",
        "On 2026-11-29 you asked us to lower the limit of your credit line "
        f"{line_id} from CNY 20,000.00 to CNY 5,000.00.",
        "A member of our team will act on your request by 2026-12-06",
        "You may withdraw your request",
        f"quoting request {asked['id']}.",
    ]:
        assert fact in en, (fact, en)
    [zh] = inbox_texts(c, borrower, "zh-CN")[-1:]
    for fact in [
        "我们已收到您将授信额度调低至 5,000.00 元 的申请\n",
        f"将额度账户 {line_id} 的授信额度由 20,000.00 元 调低至 5,000.00 元",
        "工作人员将在 2026-12-06 前处理您的申请",
        "您可以随时撤回本申请",
        f"申请编号 {asked['id']}",
    ]:
        assert fact in zh, (fact, zh)
    [closed_en] = inbox_texts(c, OTHER, "en")[-1:]
    assert closed_en.startswith("We received your request to close your credit line\n")
    assert f"close your credit line {other_line}." in closed_en
    assert "by 2026-12-06" in closed_en and closing["id"] in closed_en
    [closed_zh] = inbox_texts(c, OTHER, "zh-CN")[-1:]
    assert closed_zh.startswith("我们已收到您关闭额度账户的申请\n")
    assert "2026-12-06 前" in closed_zh


def test_the_decision_that_grants_a_request_names_it_in_its_notice(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)
    asked = ask(c, borrower, line_id, "close")
    decision = grant(c, approver, line_id, asked).document["decision"]
    [row] = rows(c, borrower_requests)
    assert (row["status"], row["decision_id"]) == ("done", decision["id"])
    [notice] = [row for row in notices_of(c, "notice.adverse_change")]
    assert notice["ref_id"] == decision["id"]
    assert notice["payload"]["request"] == {
        **asked,
        "status": "done",
        "decision_id": decision["id"],
        "done_at": decision["at"],
    }
    [en] = inbox_texts(c, borrower, "en")[-1:]
    assert en.startswith("Your credit line is closed\n")
    assert f"We made this change at your request of 2026-11-28 (request {asked['id']})." in en
    [zh] = inbox_texts(c, borrower, "zh-CN")[-1:]
    assert f"本次变更应您于 2026-11-28 提交的申请作出(申请编号 {asked['id']})。" in zh


# --- withdrawing, and one open request per line ------------------------------------------------
def test_a_withdrawn_request_cannot_be_granted(
    container: Container, agent: Actor, approver: Actor, borrower: Actor, clock: FixedClock
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)
    asked = ask(c, borrower, line_id)
    clock.advance(DAY)
    withdrawn = c.ledger.requests.withdraw(borrower, "take-back", asked["id"]).document
    assert withdrawn == {**asked, "status": "withdrawn", "withdrawn_at": clock.now().isoformat()}
    error = refused(c, BorrowerRequestMissing, lambda: grant(c, approver, line_id, asked))
    assert error.code == "borrower_request_missing"
    again = refused(
        c,
        BorrowerRequestNotOpen,
        lambda: c.ledger.requests.withdraw(borrower, "again", asked["id"]),
    )
    assert again.details == {"request_id": asked["id"], "status": "withdrawn"}
    assert c.ledger.get_line(borrower, line_id)["limit"] == "20000.00"
    # The line is free for another request, which staff may grant.
    closing = ask(c, borrower, line_id, "close")
    assert grant(c, approver, line_id, closing).document["line"]["status"] == "closed"


def test_a_granted_request_cannot_be_withdrawn(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)
    asked = ask(c, borrower, line_id)
    grant(c, approver, line_id, asked)
    error = refused(
        c, BorrowerRequestNotOpen, lambda: c.ledger.requests.withdraw(borrower, "k", asked["id"])
    )
    assert error.details["status"] == "done"


def test_only_the_borrower_withdraws_their_own_request(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)
    asked = ask(c, borrower, line_id)
    # Another borrower's request is as unknown as one that does not exist.
    for request_id in (asked["id"], "01a224fe-7b9e-736b-af6b-7035f8020d14", "not-an-id"):
        error = refused(
            c,
            BorrowerRequestNotFound,
            lambda request_id=request_id: c.ledger.requests.withdraw(OTHER, "k", request_id),
        )
        assert error.details == {"request_id": request_id}
    refused(c, Forbidden, lambda: c.ledger.requests.withdraw(agent, "k", asked["id"]))


def test_a_line_has_one_open_request_at_a_time(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)
    asked = ask(c, borrower, line_id, "decrease", "8000.00")
    error = refused(c, BorrowerRequestAlreadyOpen, lambda: ask(c, borrower, line_id, "close"))
    assert error.details == {"line_id": line_id, "request_id": asked["id"]}
    grant(c, approver, line_id, asked)
    assert ask(c, borrower, line_id, "decrease", "6000.00")["status"] == "open"


def test_a_grant_and_a_withdrawal_at_once_make_one_outcome(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)
    asked = ask(c, borrower, line_id)
    outcomes = at_once(
        [
            lambda: grant(c, approver, line_id, asked).document,
            lambda: c.ledger.requests.withdraw(borrower, "race", asked["id"]).document,
        ]
    )
    granted, withdrawn = outcomes
    [row] = rows(c, borrower_requests)
    line = c.ledger.get_line(borrower, line_id)
    if row["status"] == "done":
        assert isinstance(withdrawn, BorrowerRequestNotOpen) and "decision" in granted
        assert line["limit"] == "5000.00"
    else:
        assert row["status"] == "withdrawn"
        assert isinstance(granted, BorrowerRequestMissing) and withdrawn["status"] == "withdrawn"
        assert line["limit"] == "20000.00"


# --- idempotent replays ------------------------------------------------------------------------
def test_asking_and_withdrawing_replay_under_their_keys(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)
    first = c.ledger.requests.ask(borrower, "ask-1", line_id, "decrease", "5000.00")
    clock.advance(DAY)
    again = c.ledger.requests.ask(borrower, "ask-1", line_id, "decrease", "5000.00")
    assert (again.replayed, again.document) == (True, first.document)
    assert len(rows(c, borrower_requests)) == len(notices_of(c, "notice.request_received")) == 1
    refused(
        c,
        IdempotencyKeyReused,
        lambda: c.ledger.requests.ask(borrower, "ask-1", line_id, "decrease", "6000.00"),
    )
    request_id = first.document["id"]
    withdrawn = c.ledger.requests.withdraw(borrower, "back-1", request_id)
    clock.advance(DAY)
    # The stored answer, though the request is no longer open.
    replayed = c.ledger.requests.withdraw(borrower, "back-1", request_id)
    assert (replayed.replayed, replayed.document) == (True, withdrawn.document)
    refused(
        c,
        IdempotencyKeyReused,
        lambda: c.ledger.requests.withdraw(
            borrower, "back-1", "01a224fe-7b9e-736b-af6b-7035f8020d14"
        ),
    )


# --- staff see the queue; a borrower sees their own ----------------------------------------------
def listed_ids(page: dict[str, Any]) -> list[str]:
    return [request["id"] for request in page["requests"]]


def test_staff_list_open_requests_oldest_first_a_page_at_a_time(
    container: Container, agent: Actor, approver: Actor, clock: FixedClock
) -> None:
    c = container
    start, asked = clock.now(), []
    # The third is dated before the second, and the second and fourth at one instant: the
    # order is by when each was made, then by id.
    for n, hours in enumerate((0, 2, 1, 2, 3)):
        clock.set(start + timedelta(hours=hours))
        who = Actor(f"queue-{n}", Role.BORROWER)
        asked.append(ask(c, who, open_line(c, agent, who)))
    withdrawn, granted = asked[1], asked[4]
    c.ledger.requests.withdraw(Actor(withdrawn["borrower_id"], Role.BORROWER), "w", withdrawn["id"])
    grant(c, approver, granted["line_id"], granted)
    still_open = sorted(
        (r for r in asked if r not in (withdrawn, granted)),
        key=lambda r: (r["created_at"], r["id"]),
    )

    whole = c.ledger.requests.queue(agent)
    assert listed_ids(whole) == [r["id"] for r in still_open]
    assert whole["next_after"] is None
    first = whole["requests"][0]
    assert {key: first[key] for key in ("line_id", "borrower_id", "kind", "limit", "overdue")} == {
        "line_id": still_open[0]["line_id"],
        "borrower_id": still_open[0]["borrower_id"],
        "kind": "decrease",
        "limit": "5000.00",
        "overdue": False,
    }
    assert (first["created_at"], first["due_at"]) == (
        still_open[0]["created_at"],
        still_open[0]["due_at"],
    )

    pages, after = [], None
    while True:
        page = c.ledger.requests.queue(agent, "open", 1, after)
        pages.append(listed_ids(page))
        after = page["next_after"]
        if after is None:
            break
    assert [i for page in pages for i in page] == listed_ids(whole)
    assert pages[-1] == []  # the last full page names a next one, which is empty

    assert listed_ids(c.ledger.requests.queue(agent, "withdrawn")) == [withdrawn["id"]]
    assert listed_ids(c.ledger.requests.queue(agent, "done")) == [granted["id"]]
    clock.set(clock.now() + 16 * DAY)
    assert all(request["overdue"] for request in c.ledger.requests.queue(agent)["requests"])
    assert not any(r["overdue"] for r in c.ledger.requests.queue(agent, "done")["requests"])


def test_the_staff_list_refuses_borrowers_and_bad_pages(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)
    ask(c, borrower, line_id)
    with pytest.raises(Forbidden):
        c.ledger.requests.queue(borrower)
    for status, limit, after in (
        ("pending", 50, None),
        ("open", 0, None),
        ("open", 201, None),
        ("open", 50, "01a224fe-7b9e-736b-af6b-7035f8020d14"),
        ("open", 50, "not-an-id"),
    ):
        with pytest.raises(InvalidInput):
            c.ledger.requests.queue(agent, status, limit, after)


def test_a_borrower_lists_their_own_lines_requests_and_no_one_elses(
    container: Container, agent: Actor, approver: Actor, borrower: Actor, clock: FixedClock
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)
    first = ask(c, borrower, line_id, "decrease", "8000.00")
    grant(c, approver, line_id, first)
    clock.advance(DAY)
    second = ask(c, borrower, line_id, "close")
    own = c.ledger.requests.of_line(borrower, line_id)
    assert (own["line_id"], listed_ids(own)) == (line_id, [first["id"], second["id"]])
    assert [r["status"] for r in own["requests"]] == ["done", "open"]
    assert listed_ids(c.ledger.requests.of_line(approver, line_id)) == listed_ids(own)
    paged = c.ledger.requests.of_line(borrower, line_id, 1, first["id"])
    assert (listed_ids(paged), paged["next_after"]) == ([second["id"]], second["id"])
    with pytest.raises(LineNotFound):
        c.ledger.requests.of_line(OTHER, line_id)
    # A page of this line cannot start at another line's request.
    other_line = open_line(c, agent, OTHER)
    theirs = ask(c, OTHER, other_line)
    with pytest.raises(InvalidInput):
        c.ledger.requests.of_line(borrower, line_id, 50, theirs["id"])


# --- over HTTP ----------------------------------------------------------------------------------
def call(
    client: TestClient, c: Container, method: str, who: Actor, path: str, body: Any = None
) -> Any:
    return client.request(method, path, json=body, headers=headers(c, who.role, who.subject))


def test_the_request_endpoints_over_http(
    container: Container, client: TestClient, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    c = container
    line_id = open_line(c, agent, borrower)
    asked = call(client, c, "POST", borrower, f"/v1/lines/{line_id}/requests", {"kind": "close"})
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert (request["status"], request["due_at"]) == (
        "open",
        (c.clock.now() + 15 * DAY).isoformat(),
    )
    twice = call(client, c, "POST", borrower, f"/v1/lines/{line_id}/requests", {"kind": "close"})
    assert (twice.status_code, twice.json()["code"]) == (409, "borrower_request_already_open")

    listed = call(client, c, "GET", borrower, f"/v1/lines/{line_id}/requests")
    assert (listed.status_code, listed_ids(listed.json())) == (200, [request["id"]])
    foreign = call(client, c, "GET", OTHER, f"/v1/lines/{line_id}/requests")
    assert (foreign.status_code, foreign.json()["code"]) == (404, "line_not_found")
    queue = call(client, c, "GET", agent, "/v1/requests?status=open&limit=10")
    assert (queue.status_code, listed_ids(queue.json())) == (200, [request["id"]])
    for bad in ("status=pending", "limit=0", "limit=201", f"after={line_id}"):
        refused_page = call(client, c, "GET", agent, f"/v1/requests?{bad}")
        assert refused_page.status_code == 422, (bad, refused_page.text)
    not_staff = call(client, c, "GET", borrower, "/v1/requests")
    assert (not_staff.status_code, not_staff.json()["code"]) == (403, "forbidden")

    withdraw = f"/v1/requests/{request['id']}/withdraw"
    staff_withdraw = call(client, c, "POST", agent, withdraw)
    assert (staff_withdraw.status_code, staff_withdraw.json()["code"]) == (403, "forbidden")
    theirs = call(client, c, "POST", OTHER, withdraw)
    assert (theirs.status_code, theirs.json()["code"]) == (404, "borrower_request_not_found")
    withdrawn = call(client, c, "POST", borrower, withdraw)
    assert (withdrawn.status_code, withdrawn.json()["status"]) == (200, "withdrawn")
    again = call(client, c, "POST", borrower, withdraw)
    assert (again.status_code, again.json()["code"]) == (409, "borrower_request_not_open")
    granted = call(
        client,
        c,
        "POST",
        approver,
        f"/v1/lines/{line_id}/limit-changes",
        {
            "action": "close",
            "reason_codes": ["account_closed_by_borrower"],
            "request_id": request["id"],
        },
    )
    assert (granted.status_code, granted.json()["code"]) == (409, "borrower_request_missing")
    assert call(client, c, "GET", agent, "/v1/requests").json()["requests"] == []
    assert listed_ids(call(client, c, "GET", agent, "/v1/requests?status=withdrawn").json()) == [
        request["id"]
    ]
