"""The complaint behind creditline, end to end over HTTP, on both stores.

A borrower with a 20,000.00 line draws 5,000.00 twice (hold, then post) and repays both loans in
full, while an operator freezes and unfreezes the line from another thread. A hold or post that
lands on a frozen line is refused with `line_frozen`, names the decision that froze it, and is
retried with the same idempotency key after the unfreeze. At the end the line shows its whole
20,000.00 again, and its journal explains every step.

The two threads really race, but a small handshake pins some requests inside freeze windows so
that the interesting interleavings happen on every run: the very first hold meets a frozen line,
and every repayment is made while the line is frozen (a freeze never stops a repayment from
restoring credit).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from creditline.api.auth import issue_token
from creditline.bootstrap import Container
from creditline.kernel.actors import Role

PROBLEM_JSON = "application/problem+json"
BORROWER_ID = "borrower-seed"
LIMIT = "20000.00"
DRAW = "5000.00"
SCENARIO_SECONDS_MAX = 30.0
FREEZE_WINDOW_SECONDS_MAX = 2.0
FREEZE_CYCLES_MAX = 200
JOURNAL_PAGE_SIZE = 500


def _headers(container: Container, role: Role, subject: str) -> dict[str, str]:
    token = issue_token(container.settings.jwt_signing_key, role, subject, container.clock.now())
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Window:
    """What the borrower and the operator know of each other's progress, under one lock.

    `frozen` is set only after a freeze was acknowledged and cleared only before the unfreeze
    is sent, so a request started while it is set and `pinned` runs wholly inside a freeze.
    """

    condition: threading.Condition = field(default_factory=threading.Condition)
    frozen: bool = False
    borrower_done: bool = False
    pinned: int = 0
    pinned_completed: int = 0
    windows_closed: int = 0


@dataclass
class Attempt:
    step: str
    status: int
    body: dict[str, Any]
    inside_freeze: bool


class Borrower:
    """Runs the borrower's six steps in order, retrying `line_frozen` refusals with the same key."""

    def __init__(self, client: TestClient, headers: dict[str, str], window: Window) -> None:
        self.client = client
        self.headers = headers
        self.window = window
        self.attempts: list[Attempt] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.failure: str | None = None

    def run(self, line_id: str) -> None:
        try:
            deadline = time.monotonic() + SCENARIO_SECONDS_MAX
            for n in (1, 2):
                hold = self._step(
                    f"hold-{n}",
                    f"/v1/lines/{line_id}/drawdowns",
                    deadline,
                    False,
                    {"amount": DRAW, "term_months": 12},
                )
                self._step(f"post-{n}", f"/v1/drawdowns/{hold['id']}/post", deadline, False, None)
            for n in (1, 2):
                loan_id = self.results[f"post-{n}"]["loan_id"]
                self._step(
                    f"repay-{n}",
                    f"/v1/loans/{loan_id}/repayments",
                    deadline,
                    True,
                    {"amount": DRAW},
                )
        except Exception as exc:  # reported to the main thread and failed there
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            with self.window.condition:
                self.window.borrower_done = True
                self.window.condition.notify_all()

    def _step(
        self, step: str, path: str, deadline: float, wait_for_freeze: bool, body: Any
    ) -> dict[str, Any]:
        window = self.window
        while time.monotonic() < deadline:
            with window.condition:
                if wait_for_freeze:
                    window.condition.wait_for(
                        lambda: window.frozen, timeout=FREEZE_WINDOW_SECONDS_MAX
                    )
                inside = window.frozen
                window.pinned += inside
                closed = window.windows_closed
            try:
                response = self.client.post(
                    path, json=body, headers={**self.headers, "Idempotency-Key": f"seed-{step}"}
                )
            finally:
                with window.condition:
                    window.pinned -= inside
                    window.pinned_completed += inside
                    window.condition.notify_all()
            self.attempts.append(Attempt(step, response.status_code, response.json(), inside))
            if response.is_success:
                self.results[step] = response.json()
                return response.json()
            problem_type = response.headers["content-type"].split(";")[0]
            if problem_type != PROBLEM_JSON or response.json().get("code") != "line_frozen":
                raise AssertionError(f"{step}: unexpected {response.status_code} {response.text}")
            if inside:  # retry once the operator has lifted the freeze
                with window.condition:
                    window.condition.wait_for(
                        lambda closed=closed: window.windows_closed > closed,
                        timeout=SCENARIO_SECONDS_MAX,
                    )
            # Refused at the edge of a freeze: the retry starts inside the window, or after it.
        raise AssertionError(f"{step}: still refused after {SCENARIO_SECONDS_MAX} s")


class Operator:
    """Freezes and unfreezes the line until the borrower is done; starts with a freeze."""

    def __init__(
        self,
        client: TestClient,
        headers: dict[str, str],
        window: Window,
        now: Callable[[], Any],
    ) -> None:
        self.client = client
        self.headers = headers
        self.window = window
        self.now = now
        self.decisions: list[dict[str, Any]] = []
        self.first_freeze = threading.Event()
        self.failure: str | None = None

    def run(self, line_id: str) -> None:
        try:
            for cycle in range(FREEZE_CYCLES_MAX):
                self._cycle(line_id, cycle)
                with self.window.condition:
                    if self.window.borrower_done:
                        return
                time.sleep(0.002 * (cycle % 3))  # vary the gap so edges race differently
            raise AssertionError(f"borrower not done after {FREEZE_CYCLES_MAX} freezes")
        except Exception as exc:  # reported to the main thread and failed there
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            self.first_freeze.set()

    def _cycle(self, line_id: str, cycle: int) -> None:
        window = self.window
        until = (self.now() + timedelta(days=1)).isoformat()
        self._decide(line_id, f"freeze-{cycle}", "freeze", ["drawdown_velocity"], until)
        with window.condition:
            window.frozen = True
            seen = window.pinned_completed
            window.condition.notify_all()
        self.first_freeze.set()
        with window.condition:
            # Keep the line frozen until one borrower request ran wholly inside the freeze.
            window.condition.wait_for(
                lambda: window.pinned_completed > seen or window.borrower_done,
                timeout=FREEZE_WINDOW_SECONDS_MAX,
            )
            window.condition.wait_for(lambda: window.pinned == 0, timeout=SCENARIO_SECONDS_MAX)
            window.frozen = False
            window.windows_closed += 1
            window.condition.notify_all()
        self._decide(line_id, f"unfreeze-{cycle}", "unfreeze", ["risk_resolved"], None)

    def _decide(
        self, line_id: str, key: str, action: str, reasons: list[str], until: str | None
    ) -> None:
        body: dict[str, Any] = {"action": action, "reason_codes": reasons, "note": key}
        if until is not None:
            body["until"] = until
        response = self.client.post(
            f"/v1/lines/{line_id}/limit-changes",
            json=body,
            headers={**self.headers, "Idempotency-Key": f"seed-{key}"},
        )
        if response.status_code != 201:
            raise AssertionError(f"{key}: {response.status_code} {response.text}")
        self.decisions.append(response.json()["decision"])


def _journal(client: TestClient, headers: dict[str, str], line_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    after_seq = 0
    for _ in range(100):
        response = client.get(
            f"/v1/lines/{line_id}/journal",
            params={"after_seq": after_seq, "limit": JOURNAL_PAGE_SIZE},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        page = response.json()
        entries.extend(page["entries"])
        if page["next_after_seq"] is None:
            return entries
        after_seq = page["next_after_seq"]
    raise AssertionError("journal did not end within 100 pages")


def _run_scenario(
    client: TestClient, container: Container, line_id: str
) -> tuple[Borrower, Operator]:
    window = Window()
    borrower = Borrower(client, _headers(container, Role.BORROWER, BORROWER_ID), window)
    operator = Operator(
        client, _headers(container, Role.AGENT, "agent-seed"), window, container.clock.now
    )
    operator_thread = threading.Thread(target=operator.run, args=(line_id,), name="operator")
    borrower_thread = threading.Thread(target=borrower.run, args=(line_id,), name="borrower")
    operator_thread.start()
    # The borrower starts once the first freeze is in: its first hold meets a frozen line.
    assert operator.first_freeze.wait(SCENARIO_SECONDS_MAX)
    borrower_thread.start()
    for thread in (borrower_thread, operator_thread):
        thread.join(SCENARIO_SECONDS_MAX)
        assert not thread.is_alive(), f"{thread.name} did not finish"
    assert borrower.failure is None, borrower.failure
    assert operator.failure is None, operator.failure
    return borrower, operator


def test_a_settled_line_shows_its_whole_limit_however_freezes_interleave(
    client: TestClient, container: Container
) -> None:
    agent = _headers(container, Role.AGENT, "agent-seed")
    opened = client.post(
        "/v1/lines",
        json={"borrower_id": BORROWER_ID, "currency": "CNY", "limit": LIMIT},
        headers={**agent, "Idempotency-Key": "seed-open"},
    )
    assert opened.status_code == 201, opened.text
    line_id = opened.json()["id"]

    borrower, operator = _run_scenario(client, container, line_id)

    _check_refusals(borrower, operator)
    _check_results(borrower)
    line = client.get(f"/v1/lines/{line_id}", headers=agent)
    assert line.status_code == 200
    assert {k: line.json()[k] for k in ("limit", "available", "principal_outstanding", "held")} == {
        "limit": LIMIT,
        "available": LIMIT,
        "principal_outstanding": "0.00",
        "held": "0.00",
    }
    assert line.json()["status"] == "active"
    assert line.json()["status_decision_id"] == operator.decisions[-1]["id"]
    own_view = client.get(
        f"/v1/lines/{line_id}", headers=_headers(container, Role.BORROWER, BORROWER_ID)
    )
    assert own_view.json() == line.json()

    entries = _journal(client, agent, line_id)
    _check_journal(entries, line.json(), borrower, operator)
    assert container.reconciler.run() == []


def _check_refusals(borrower: Borrower, operator: Operator) -> None:
    refused = [a for a in borrower.attempts if not (200 <= a.status < 300)]
    assert refused, "no request met a frozen line"
    assert borrower.attempts[0].step == "hold-1" and borrower.attempts[0].status == 409
    freeze_ids = {d["id"] for d in operator.decisions if d["action"] == "freeze"}
    for attempt in refused:
        assert attempt.status == 409
        assert attempt.body["code"] == "line_frozen"
        assert attempt.body["status"] == 409
        # The refusal says why: the decision that froze the line, and until when.
        assert attempt.body["details"]["decision_id"] in freeze_ids
        assert attempt.body["details"]["frozen_until"] is not None
        assert attempt.step in borrower.results, f"{attempt.step} never went through"
    for attempt in borrower.attempts:
        if attempt.inside_freeze:  # pinned inside a freeze: draws refused, repayments applied
            expected = 201 if attempt.step.startswith("repay") else 409
            assert attempt.status == expected, attempt
    repaid_while_frozen = [a for a in borrower.attempts if a.step.startswith("repay")]
    assert len(repaid_while_frozen) == 2
    assert all(a.inside_freeze for a in repaid_while_frozen)


def _check_results(borrower: Borrower) -> None:
    results = borrower.results
    assert set(results) == {"hold-1", "post-1", "hold-2", "post-2", "repay-1", "repay-2"}
    for n in (1, 2):
        assert results[f"hold-{n}"]["status"] == "held"
        assert results[f"hold-{n}"]["amount"] == DRAW
        assert results[f"post-{n}"]["status"] == "posted"
        assert results[f"post-{n}"]["id"] == results[f"hold-{n}"]["id"]
        assert results[f"post-{n}"]["amount"] == DRAW
        repaid = results[f"repay-{n}"]
        assert repaid["loan_id"] == results[f"post-{n}"]["loan_id"]
        assert repaid["allocation"]["principal"] == DRAW
        assert repaid["loan_status"] == "settled"
        assert repaid["principal_outstanding"] == "0.00"
        # Made while frozen, and still the repaid principal is available at once.
        assert repaid["line"]["status"] == "frozen"
    assert results["repay-1"]["line"]["available"] == "15000.00"
    assert results["repay-2"]["line"]["available"] == LIMIT
    assert results["post-1"]["loan_id"] != results["post-2"]["loan_id"]


def _check_journal(
    entries: list[dict[str, Any]],
    line: dict[str, Any],
    borrower: Borrower,
    operator: Operator,
) -> None:
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert len(entries) == line["version"]
    moves = [e for e in entries if e["decision_id"] is None]
    decided = [e for e in entries if e["decision_id"] is not None]
    assert [e["kind"] for e in moves] == ["open", "hold", "post", "hold", "post", "repay", "repay"]
    # The opening's grant of the limit comes first, then every freeze and unfreeze, in the
    # order the operator made them, each with its id.
    granted, *decided = decided
    assert (granted["kind"], granted["limit_delta"], granted["seq"]) == ("increase", LIMIT, 2)
    assert [(e["kind"], e["decision_id"]) for e in decided] == [
        (d["action"], d["id"]) for d in operator.decisions
    ]
    assert [e["kind"] for e in decided] == ["freeze", "unfreeze"] * (len(decided) // 2)
    assert len(decided) >= 2
    _check_balances(entries)
    results = borrower.results
    for n, (hold, post) in enumerate(zip(moves[1::2][:2], moves[2::2][:2], strict=True), 1):
        assert hold["drawdown_id"] == results[f"hold-{n}"]["id"]
        assert post["drawdown_id"] == results[f"hold-{n}"]["id"]
        assert post["loan_id"] == results[f"post-{n}"]["loan_id"]
        assert hold["status_after"] == post["status_after"] == "active"
    assert [e["loan_id"] for e in moves[5:]] == [
        results["post-1"]["loan_id"],
        results["post-2"]["loan_id"],
    ]
    last = entries[-1]
    assert (last["limit_after"], last["available_after"], last["status_after"]) == (
        line["limit"],
        line["available"],
        line["status"],
    )
    assert last["hash"] != entries[0]["hash"]
    assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(entries))


def _check_balances(entries: list[dict[str, Any]]) -> None:
    """Each entry's balances follow from the previous entry's and its own deltas."""
    limit = principal = held = Decimal(0)
    status = None
    expected_deltas = {
        "open": (Decimal(0), Decimal(0), Decimal(0)),  # at 0: the staff member's grant follows
        "increase": (Decimal(LIMIT), Decimal(0), Decimal(0)),
        "hold": (Decimal(0), Decimal(0), Decimal(DRAW)),
        "post": (Decimal(0), Decimal(DRAW), -Decimal(DRAW)),
        "repay": (Decimal(0), -Decimal(DRAW), Decimal(0)),
        "freeze": (Decimal(0), Decimal(0), Decimal(0)),
        "unfreeze": (Decimal(0), Decimal(0), Decimal(0)),
    }
    for entry in entries:
        deltas = tuple(Decimal(entry[k]) for k in ("limit_delta", "principal_delta", "held_delta"))
        assert deltas == expected_deltas[entry["kind"]], entry
        limit, principal, held = limit + deltas[0], principal + deltas[1], held + deltas[2]
        assert Decimal(entry["limit_after"]) == limit
        assert Decimal(entry["principal_after"]) == principal
        assert Decimal(entry["held_after"]) == held
        assert Decimal(entry["available_after"]) == limit - principal - held
        assert min(principal, held, limit - principal - held) >= 0
        if entry["kind"] == "freeze":
            status = "frozen"
        elif entry["kind"] in ("open", "unfreeze"):
            status = "active"
        assert entry["status_after"] == status, entry
