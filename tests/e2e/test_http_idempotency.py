"""Every mutating POST is exactly-once under its `Idempotency-Key`, over HTTP, on both stores.

The cases are parametrised over the POST operations of the API's OpenAPI document: an operation
with neither a case here nor a stated reason to have none fails, so a new route cannot be added
without one (`test_every_post_operation_has_a_case` also checks the document the app serves).

For each operation, called by a role allowed to call it, after a small setup of its own:

1. the same key and body twice: the second answer has the first's status and body and says
   `Idempotent-Replayed: true`; the first made exactly the case's effect (the change in the row
   count of every table, and in the rows by state: held, posted, frozen, read, ...) and the
   replay changed no row of any table;
2. the same key with another body (or another target, for the routes without a body): a 422
   `application/problem+json` `idempotency_key_reused`, and no row of any table changed;
3. 20 concurrent requests with one key and one body to a real server (uvicorn on a loopback
   port, over the test's container): every answer is the same success with the same body,
   exactly one of them not marked as replayed (the others replay it, whether they found its
   key or lost the race to it), and the book changed by exactly the case's effect, once. On
   PostgreSQL, where transactions really run at once, the first two requests that found no
   key are also held until both have (`Overlap`, around the use case), so that every run has
   two requests doing the use case at the same time — the race a line lock does not settle
   is not left to the scheduler. SQLite's writers take turns (`BEGIN IMMEDIATE`).

`POST /v1/lines/{line_id}/quotes` takes no key: a quote prices a drawdown and writes nothing
(`test_a_quote_takes_no_key_and_changes_nothing`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from creditline.api.app import create_app
from creditline.api.auth import issue_token
from creditline.api.routers import ROUTERS
from creditline.bootstrap import Container
from creditline.config import shipped_policy_file
from creditline.db.commands import Commands
from creditline.db.metadata import metadata
from creditline.db.unit_of_work import Transaction
from creditline.decisions.applications import Application
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.ids import new_id
from creditline.notices.tables import inbox

PROBLEM_JSON = "application/problem+json"
DAY = timedelta(days=1)
BORROWER = "borrower-idem-1"
OTHER_BORROWER = "borrower-idem-2"
AGENT = Actor("agent-1", Role.AGENT)
ME = Actor(BORROWER, Role.BORROWER)
FREEZE_UNTIL = "2026-12-05T00:00:00+00:00"  # days after the tests' clock starts
FREEZE = dt.datetime.fromisoformat(FREEZE_UNTIL)
CONCURRENT_REQUESTS = 20
REQUEST_TIMEOUT_SECONDS = 60.0
SERVER_START_SECONDS_MAX = 15.0
OVERLAP_WAIT_SECONDS = 2.0
# A column that says what state a row is in: the state tables are counted by it as well.
STATE_COLUMNS = ("status", "outcome")
KEY = "idempotency_keys"


# --- the book a case starts from ----------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """The id the case's path names, and the one its key-reuse request names instead (routes
    without a body are reused on another target)."""

    id: str | None = None
    other: str | None = None


def _line(c: Container, borrower: str = BORROWER, limit: str = "20000.00") -> str:
    return str(c.ledger.open_line(AGENT, new_id(), borrower, "CNY", limit).document["id"])


def _hold(c: Container, line_id: str, amount: str = "1000.00") -> str:
    return str(c.ledger.place_hold(ME, new_id(), line_id, amount, 12).document["id"])


def _loan(c: Container) -> str:
    drawdown_id = _hold(c, _line(c), "4000.00")
    return str(c.loans.post_drawdown(ME, new_id(), drawdown_id).document["loan_id"])


def _frozen_by_the_policy(c: Container) -> str:
    """Five drawdowns in a day: the policy freezes the line for a week."""
    line_id = _line(c)
    for _ in range(5):
        c.loans.post_drawdown(ME, new_id(), _hold(c, line_id, "100.00"))
    assert c.decisions.review_line(line_id).decision.action == "freeze"
    return line_id


def _application(**changes: Any) -> dict[str, Any]:
    return {
        "borrower_id": BORROWER,
        "currency": "CNY",
        "income_monthly": "12000.00",
        "income_evidence": True,
        "income_evidence_expires_on": None,
        "birth_date": "1990-05-01",
        "employment": "employed",
        **changes,
    }


def _income(today: dt.date, **changes: Any) -> dict[str, Any]:
    evidence = {
        "income_monthly": "15000.00",
        "currency": "CNY",
        "document_id": "payslip-2026-12",
        "issued_on": (today - DAY).isoformat(),
        "expires_on": (today + 180 * DAY).isoformat(),
    }
    return {"kind": "income", "evidence": {**evidence, **changes}}


def _report(reported_at: str, **changes: Any) -> dict[str, Any]:
    return {
        "borrower_id": BORROWER,
        "reported_at": reported_at,
        "inquiries_3m": 2,
        "lenders_with_open_loans": 1,
        "bureau_score": 700,
        **changes,
    }


def _nothing(c: Container, clock: FixedClock) -> Targets:
    return Targets()


def _the_policy_stored(c: Container, clock: FixedClock) -> Targets:
    """The policy is stored when it is first used, in a transaction of its own: before the
    case's request, so that the case's effect is its own."""
    c.decisions.ready()
    return Targets()


def _a_line(c: Container, clock: FixedClock) -> Targets:
    return Targets(_line(c))


def _a_hold(c: Container, clock: FixedClock) -> Targets:
    line_id = _line(c)
    return Targets(_hold(c, line_id), _hold(c, line_id))


def _a_loan(c: Container, clock: FixedClock) -> Targets:
    return Targets(_loan(c))


def _an_overpaid_loan(c: Container, clock: FixedClock) -> Targets:
    """A loan settled with 100.00 too much: a credit balance to refund."""
    loan_id = _loan(c)
    c.loans.repay(ME, new_id(), loan_id, "4100.00")
    return Targets(loan_id)


def _a_frozen_line(c: Container, clock: FixedClock) -> Targets:
    return Targets(_frozen_by_the_policy(c))


def _an_open_human_review(c: Container, clock: FixedClock) -> Targets:
    line_id = _frozen_by_the_policy(c)
    asked = c.appeals.request(ME, new_id(), line_id, human=True, reason_text="one week only")
    review = asked.document["human_review"]
    assert review is not None and review["status"] == "open"
    return Targets(str(review["id"]))


def _two_open_requests(c: Container, clock: FixedClock) -> Targets:
    """An open request on each of two lines (one open request per line)."""
    lines = (
        _line(c),
        str(c.ledger.open_line(AGENT, new_id(), BORROWER, "USD", "500.00").document["id"]),
    )
    asked = [c.ledger.requests.ask(ME, new_id(), line_id, "close").document for line_id in lines]
    return Targets(str(asked[0]["id"]), str(asked[1]["id"]))


def _a_consent(c: Container, clock: FixedClock) -> Targets:
    c.bureau.record_consent(ME, new_id(), BORROWER)
    clock.advance(timedelta(hours=1))  # the pull the report is of comes after the consent
    return Targets()


def _a_suspended_line(c: Container, clock: FixedClock) -> Targets:
    """A line opened on income evidence that then expired, and suspended for it."""
    expires = (clock.now() + 10 * DAY).date()
    application = Application(
        borrower_id=BORROWER,
        currency="CNY",
        income_monthly="12000.00",
        income_evidence=True,
        income_evidence_expires_on=expires,
        birth_date=dt.date(1990, 5, 1),
        employment="employed",
    )
    line_id = str(c.underwriting.apply(ME, new_id(), application).document["line_id"])
    clock.advance(12 * DAY)
    assert c.decisions.review_line(line_id).decision.action == "suspend"
    return Targets()


def _notices_in_the_inbox(c: Container, clock: FixedClock) -> Targets:
    line_id = _line(c)
    c.ledger.change_limit(AGENT, new_id(), line_id, "freeze", ["fraud_suspected"], until=FREEZE)
    c.ledger.change_limit(AGENT, new_id(), line_id, "unfreeze", ["review_upheld_appeal"])
    c.dispatcher.run_until_idle()
    found = c.notices.inbox(ME)["notices"]
    assert len(found) >= 2, found
    return Targets(str(found[0]["id"]), str(found[1]["id"]))


ANALYST = Actor("analyst-1", Role.ANALYST)
APPROVER = Actor("approver-1", Role.APPROVER)


def _policy_version(version: str) -> dict[str, Any]:
    """The shipped policy under another version, with a longer cool-down."""
    document = yaml.safe_load(shipped_policy_file().read_text(encoding="utf-8"))
    document["version"] = version
    document["constraints"]["cooldown_days"] = 45
    return dict(document)


def _submitted(c: Container, *versions: str) -> list[str]:
    c.decisions.ready()  # version one is seeded from the policy file first
    return [
        str(c.policies.submit(ANALYST, new_id(), _policy_version(v)).document["policy"])
        for v in versions
    ]


def _policy_versions(c: Container, clock: FixedClock) -> Targets:
    return Targets(*_submitted(c, "2026.12.1", "2026.12.2"))


def _simulated_versions(c: Container, clock: FixedClock) -> Targets:
    labels = _submitted(c, "2026.12.1", "2026.12.2")
    for label in labels:
        c.policies.simulate(ANALYST, new_id(), label)
    return Targets(*labels)


def _approved_version(c: Container, clock: FixedClock) -> Targets:
    label = _simulated_versions(c, clock).id
    assert label is not None
    c.policies.approve(APPROVER, new_id(), label, clock.now() + DAY)
    return Targets(label)


def _shadowed_versions(c: Container, clock: FixedClock) -> Targets:
    labels = _submitted(c, "2026.12.1", "2026.12.2")
    for label in labels:
        c.policies.start_shadow(ANALYST, new_id(), label, "watch it")
    return Targets(*labels)


def _experiment(c: Container, clock: FixedClock) -> Targets:
    label = _simulated_versions(c, clock).id
    assert label is not None
    settings = {"share_bp": 1000, "adverse_rate_max_bp": 500, "exposure_change_max_bp": 1000}
    made = c.policies.create_experiment(APPROVER, new_id(), label, settings, "a tenth")
    return Targets(str(made.document["experiment_id"]))


def _new_experiment(share_bp: int) -> Callable[[FixedClock], Any]:
    return _fixed(
        {
            "challenger": "cn-standard@2026.12.1",
            "share_bp": share_bp,
            "adverse_rate_max_bp": 500,
            "exposure_change_max_bp": 1000,
            "justification": "a slice of the book",
        }
    )


# --- the cases ----------------------------------------------------------------------------------

SAME_BODY_OTHER_TARGET = object()  # the key reused on `Targets.other` with the same body


@dataclass(frozen=True)
class Case:
    operation: str  # the path as the OpenAPI document names it
    role: Role
    subject: str
    setup: Callable[[Container, FixedClock], Targets]
    # Bodies may depend on the clock the setup left (a report's time, evidence dates).
    body: Callable[[FixedClock], Any]
    other: Callable[[FixedClock], Any] | object
    status: int
    # The exact change one request makes: row counts by table, and by state ("table.state").
    effect: dict[str, int]

    def path(self, target: str | None) -> str:
        if "{" not in self.operation:
            return self.operation
        assert target is not None, f"{self.operation} needs a target from its setup"
        return re.sub(r"\{[a-z_]+\}", target, self.operation)


def _fixed(body: Any) -> Callable[[FixedClock], Any]:
    return lambda clock: body


def _freeze(until: str = FREEZE_UNTIL) -> dict[str, Any]:
    return {"action": "freeze", "reason_codes": ["fraud_suspected"], "until": until}


def _report_at(minutes_ago: int, **changes: Any) -> Callable[[FixedClock], Any]:
    return lambda clock: _report(
        (clock.now() - timedelta(minutes=minutes_ago)).isoformat(), **changes
    )


CASES: dict[str, Case] = {
    case.operation: case
    for case in (
        Case(
            "/v1/lines",
            Role.AGENT,
            AGENT.subject,
            _nothing,
            _fixed({"borrower_id": BORROWER, "currency": "CNY", "limit": "5000.00"}),
            _fixed({"borrower_id": BORROWER, "currency": "CNY", "limit": "6000.00"}),
            201,
            # Like an approved application: the line opens at 0 and the staff member's
            # decision grants its limit (its content: test_limit_caps.py
            # `test_over_http_a_staff_opening_is_a_decision_with_its_caps_and_writes_once`).
            {"lines": 1, "lines.active": 1, "decisions": 1, "journal": 2, "outbox": 2, KEY: 1},
        ),
        Case(
            "/v1/lines/{line_id}/drawdowns",
            Role.BORROWER,
            BORROWER,
            _a_line,
            _fixed({"amount": "1000.00", "term_months": 12}),
            _fixed({"amount": "999.00", "term_months": 12}),
            201,
            {"drawdowns": 1, "drawdowns.held": 1, "journal": 1, "outbox": 1, KEY: 1},
        ),
        Case(
            "/v1/drawdowns/{drawdown_id}/post",
            Role.BORROWER,
            BORROWER,
            _a_hold,
            _fixed({}),
            _fixed({"amount": "500.00"}),
            200,
            {
                "loans": 1,
                "loans.open": 1,
                "instalments": 12,
                "loan_funding": 1,  # the test profile lends alone: one row, the lender's
                "drawdowns.held": -1,
                "drawdowns.posted": 1,
                "journal": 1,
                "outbox": 1,
                KEY: 1,
            },
        ),
        Case(
            "/v1/drawdowns/{drawdown_id}/void",
            Role.BORROWER,
            BORROWER,
            _a_hold,
            _fixed(None),
            SAME_BODY_OTHER_TARGET,
            200,
            {"drawdowns.held": -1, "drawdowns.voided": 1, "journal": 1, "outbox": 1, KEY: 1},
        ),
        Case(
            "/v1/loans/{loan_id}/repayments",
            Role.BORROWER,
            BORROWER,
            _a_loan,
            _fixed({"amount": "100.00"}),
            _fixed({"amount": "200.00"}),
            201,
            # The interest-free loan's principal falls due in a year: 100.00 prepays it, and
            # the borrower is told of the new schedule.
            {"repayments": 1, "journal": 1, "outbox": 2, KEY: 1},
        ),
        Case(
            "/v1/loans/{loan_id}/refunds",
            Role.AGENT,
            AGENT.subject,
            _an_overpaid_loan,
            _fixed({"amount": "10.00"}),
            _fixed({"amount": "20.00"}),
            201,
            {"refunds": 1, "journal": 1, "outbox": 1, KEY: 1},
        ),
        Case(
            "/v1/lines/{line_id}/limit-changes",
            Role.AGENT,
            AGENT.subject,
            _a_line,
            _fixed(_freeze()),
            _fixed(_freeze("2026-12-06T00:00:00+00:00")),
            201,
            {
                "decisions": 1,
                "lines.active": -1,
                "lines.frozen": 1,
                "journal": 1,
                "outbox": 1,
                KEY: 1,
            },
        ),
        Case(
            "/v1/lines/{line_id}/requests",
            Role.BORROWER,
            BORROWER,
            _a_line,
            _fixed({"kind": "decrease", "limit": "5000.00"}),
            _fixed({"kind": "decrease", "limit": "6000.00"}),
            201,
            {"borrower_requests": 1, "borrower_requests.open": 1, "outbox": 1, KEY: 1},
        ),
        Case(
            "/v1/requests/{request_id}/withdraw",
            Role.BORROWER,
            BORROWER,
            _two_open_requests,
            _fixed(None),
            SAME_BODY_OTHER_TARGET,
            200,
            {"borrower_requests.open": -1, "borrower_requests.withdrawn": 1, KEY: 1},
        ),
        Case(
            "/v1/lines/{line_id}/reviews",
            Role.BORROWER,
            BORROWER,
            _a_frozen_line,
            _fixed({"human": True, "reason_text": "I paid for a wedding, it was one week."}),
            _fixed({"human": True, "reason_text": "Please look again."}),
            201,
            {"reviews": 2, "reviews.decided_today": 1, "reviews.open": 1, "outbox": 1, KEY: 1},
        ),
        Case(
            "/v1/reviews/{review_id}/decide",
            Role.AGENT,
            AGENT.subject,
            _an_open_human_review,
            _fixed({"outcome": "reverse", "note": "One-off spending; history is clean."}),
            _fixed({"outcome": "uphold", "note": "Checked."}),
            200,
            {
                "reviews.open": -1,
                "reviews.reverse": 1,
                "decisions": 1,
                "lines.frozen": -1,
                "lines.active": 1,
                "journal": 1,
                "outbox": 2,
                KEY: 1,
            },
        ),
        Case(
            "/v1/applications",
            Role.BORROWER,
            BORROWER,
            _the_policy_stored,
            _fixed(_application()),
            _fixed(_application(income_monthly="13000.00")),
            201,
            {
                "applications": 1,
                "applications.approved": 1,
                "lines": 1,
                "lines.active": 1,
                "decisions": 1,
                "journal": 2,
                "outbox": 2,
                KEY: 1,
            },
        ),
        Case(
            "/v1/consents",
            Role.AGENT,  # staff record it for a borrower: the key's other body is another's
            AGENT.subject,
            _nothing,
            _fixed({"borrower_id": BORROWER}),
            _fixed({"borrower_id": OTHER_BORROWER}),
            201,
            {"consents": 1, KEY: 1},
        ),
        Case(
            "/v1/bureau-reports",
            Role.AGENT,
            AGENT.subject,
            _a_consent,
            _report_at(30),
            _report_at(30, bureau_score=650),
            201,
            {"bureau_reports": 1, KEY: 1},
        ),
        Case(
            "/v1/verifications",
            Role.BORROWER,
            BORROWER,
            _a_suspended_line,
            lambda clock: _income(clock.now().date()),
            lambda clock: _income(clock.now().date(), document_id="payslip-2026-11"),
            201,
            {
                "verifications": 1,
                "verifications.accepted": 1,
                "decisions": 1,
                "lines.suspended": -1,
                "lines.active": 1,
                "journal": 1,
                "outbox": 1,
                KEY: 1,
            },
        ),
        Case(
            "/v1/policies",
            Role.ANALYST,
            ANALYST.subject,
            _the_policy_stored,
            _fixed({"document": _policy_version("2026.12.1")}),
            _fixed({"document": _policy_version("2026.12.2")}),
            201,
            {"policy_versions": 1, "policy_steps": 2, KEY: 1},
        ),
        Case(
            "/v1/policies/{label}/simulations",
            Role.ANALYST,
            ANALYST.subject,
            _policy_versions,
            _fixed(None),
            SAME_BODY_OTHER_TARGET,
            201,
            {"policy_simulations": 1, "policy_steps": 1, KEY: 1},
        ),
        Case(
            "/v1/policies/{label}/approve",
            Role.APPROVER,
            APPROVER.subject,
            _simulated_versions,
            lambda clock: {"effective_at": (clock.now() + 2 * DAY).isoformat()},
            lambda clock: {"effective_at": (clock.now() + 3 * DAY).isoformat()},
            200,
            {"policy_steps": 1, KEY: 1},
        ),
        Case(
            "/v1/policies/{label}/schedule",
            Role.APPROVER,
            APPROVER.subject,
            _approved_version,
            _fixed({"justification": "on the calendar"}),
            _fixed({"justification": "on another day"}),
            200,
            {"policy_steps": 1, KEY: 1},
        ),
        Case(
            "/v1/policies/{label}/retire",
            Role.APPROVER,
            APPROVER.subject,
            _policy_versions,
            _fixed({"justification": "withdrawn"}),
            _fixed({"justification": "withdrawn for another reason"}),
            200,
            {"policy_steps": 1, KEY: 1},
        ),
        Case(
            "/v1/policies/{label}/shadow",
            Role.ANALYST,
            ANALYST.subject,
            _policy_versions,
            _fixed({"justification": "watch it"}),
            _fixed({"justification": "watch it for another reason"}),
            200,
            {"policy_steps": 1, KEY: 1},
        ),
        Case(
            "/v1/policies/{label}/shadow/stop",
            Role.ANALYST,
            ANALYST.subject,
            _shadowed_versions,
            _fixed({"justification": "seen enough"}),
            _fixed({"justification": "seen enough for another reason"}),
            200,
            {"policy_steps": 1, KEY: 1},
        ),
        Case(
            "/v1/experiments",
            Role.APPROVER,
            APPROVER.subject,
            _simulated_versions,
            _new_experiment(1000),
            _new_experiment(2000),
            201,
            {"policy_experiments": 1, "policy_experiment_events": 1, "policy_steps": 1, KEY: 1},
        ),
        Case(
            "/v1/experiments/{experiment_id}/stop",
            Role.APPROVER,
            APPROVER.subject,
            _experiment,
            _fixed({"justification": "enough data"}),
            _fixed({"justification": "enough data for another reason"}),
            200,
            {"policy_experiment_events": 1, "policy_steps": 1, KEY: 1},
        ),
        Case(
            "/v1/me/notices/{notice_id}/read",
            Role.BORROWER,
            BORROWER,
            _notices_in_the_inbox,
            _fixed(None),
            SAME_BODY_OTHER_TARGET,
            200,
            {"inbox.read": 1, KEY: 1},
        ),
    )
}

# Operations that decide the whole book before their command's transaction (a simulation must
# not hold a write lock while it decides): racing requests reach the key seconds apart, so they
# need not overlap inside it; one effect is still all they make.
DECIDED_BEFORE_THE_COMMAND = {"/v1/policies/{label}/simulations"}

# POST operations that change nothing and so take no key, with the reason.
WITHOUT_A_KEY = {
    "/v1/lines/{line_id}/quotes": "a quote prices a drawdown and writes nothing: no key, "
    "nothing to replay (checked below: it declares no Idempotency-Key and changes no row)",
}


def _post_operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        path: operations["post"]
        for path, operations in document["paths"].items()
        if "post" in operations
    }


def _declared_operations() -> dict[str, dict[str, Any]]:
    """The POST operations of the routers' OpenAPI document, known when tests are collected
    (the served document is compared with it in `test_every_post_operation_has_a_case`)."""
    app = FastAPI()
    for router in ROUTERS.values():
        app.include_router(router)
    return _post_operations(app.openapi())


OPERATIONS = sorted(set(_declared_operations()) - set(WITHOUT_A_KEY))


def _case(operation: str) -> Case:
    if operation not in CASES:
        pytest.fail(f"POST {operation} has no idempotency case: add one to CASES", pytrace=False)
    return CASES[operation]


# --- what the store holds -----------------------------------------------------------------------


def _counts(container: Container) -> Counter[str]:
    """Rows of every table, and of the tables with a state column by state."""
    counts: Counter[str] = Counter()
    with container.db.reading() as connection:
        for table in metadata.sorted_tables:
            counts[table.name] = connection.execute(
                select(func.count()).select_from(table)
            ).scalar_one()
            for name in STATE_COLUMNS:
                if name in table.c:
                    column = table.c[name]
                    grouped = select(column, func.count()).group_by(column)
                    for state, count in connection.execute(grouped):
                        counts[f"{table.name}.{state}"] = count
        read = select(func.count()).select_from(inbox).where(inbox.c.read_at.is_not(None))
        counts["inbox.read"] = connection.execute(read).scalar_one()
    return counts


def _contents(container: Container) -> dict[str, str]:
    """A digest of every row of every table: equal digests, nothing changed."""
    digests = {}
    with container.db.reading() as connection:
        for table in metadata.sorted_tables:
            rows = sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            digests[table.name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return digests


def _change(before: Counter[str], after: Counter[str]) -> dict[str, int]:
    names = set(before) | set(after)
    return {
        name: after[name] - before[name] for name in sorted(names) if after[name] != before[name]
    }


# --- calling the API ----------------------------------------------------------------------------


def _headers(container: Container, case: Case, key: str) -> dict[str, str]:
    token = issue_token(
        container.settings.jwt_signing_key, case.role, case.subject, container.clock.now()
    )
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": key}


def _post(client: Any, path: str, body: Any, headers: dict[str, str]) -> Any:
    if body is None:
        return client.post(path, headers=headers)
    return client.post(path, json=body, headers=headers)


def _replayed(response: Any) -> bool:
    return response.headers.get("Idempotent-Replayed") == "true"


@contextmanager
def _live_server(container: Container) -> Iterator[str]:
    """The API over `container`, served by uvicorn in a thread on a free loopback port."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    config = uvicorn.Config(
        create_app(container, threads=CONCURRENT_REQUESTS),
        log_level="warning",
        lifespan="on",
        backlog=CONCURRENT_REQUESTS * 2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listening]}, name="idempotency-server", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS_MAX
        while not server.started:
            assert thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start in time"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_SECONDS_MAX)
        listening.close()


class Overlap:
    """Holds the first two commands that looked their key up and found none, until both
    have: then both run their use case at once. Later commands pass straight through."""

    def __init__(self) -> None:
        self._meeting = threading.Barrier(2)
        self._lock = threading.Lock()
        self._arrived = 0

    def wait(self) -> None:
        with self._lock:
            self._arrived += 1
            if self._arrived > 2:
                return
        # A broken meeting: the other never came (its key lookup found this one's answer).
        with contextlib.suppress(threading.BrokenBarrierError):
            self._meeting.wait(OVERLAP_WAIT_SECONDS)

    @property
    def met(self) -> bool:
        return self._arrived >= 2


def _overlapping(monkeypatch: pytest.MonkeyPatch) -> Overlap:
    """Make every use case first wait at an `Overlap` (once its key's lookup was sent)."""
    overlap = Overlap()
    attempt = Commands._attempt

    def held(self: Commands, *args: Any, **options: Any) -> Callable[[Transaction], Any]:
        *head, work, view = args

        def run(tx: Transaction) -> Any:
            overlap.wait()
            return work(tx)

        return attempt(self, *head, run, view, **options)

    monkeypatch.setattr(Commands, "_attempt", held)
    return overlap


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about the API, not a store
def test_every_post_operation_has_a_case(client: TestClient) -> None:
    """The served document's POST operations are exactly the cases and the stated exceptions;
    every case's operation takes an Idempotency-Key, and no exception does."""
    served = _post_operations(client.get("/openapi.json").json())
    assert sorted(served) == sorted(_declared_operations())
    missing = sorted(set(served) - set(CASES) - set(WITHOUT_A_KEY))
    assert not missing, f"POST operations without an idempotency case: {missing}"
    stale = sorted((set(CASES) | set(WITHOUT_A_KEY)) - set(served))
    assert not stale, f"cases of operations the API does not have: {stale}"
    assert not set(CASES) & set(WITHOUT_A_KEY)
    for path, operation in served.items():
        headers = {
            parameter["name"]
            for parameter in operation.get("parameters", ())
            if parameter["in"] == "header"
        }
        assert ("Idempotency-Key" in headers) == (path in CASES), path


def test_a_quote_takes_no_key_and_changes_nothing(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    line_id = _line(container)
    before = _contents(container)
    token = issue_token(container.settings.jwt_signing_key, Role.BORROWER, BORROWER, clock.now())
    body = {"amount": "1000.00", "term_months": 12}
    answers = [
        client.post(f"/v1/lines/{line_id}/quotes", json=body, headers=headers)
        for headers in (
            {"Authorization": f"Bearer {token}"},
            {"Authorization": f"Bearer {token}", "Idempotency-Key": "quote-1"},
        )
    ]
    assert [answer.status_code for answer in answers] == [200, 200], answers[0].text
    assert answers[0].json() == answers[1].json()
    assert not any(_replayed(answer) for answer in answers)
    assert _contents(container) == before


@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_same_key_and_body_twice_is_one_effect_and_a_replay(
    operation: str, client: TestClient, container: Container, clock: FixedClock
) -> None:
    case = _case(operation)
    targets = case.setup(container, clock)
    path, body, key = case.path(targets.id), case.body(clock), f"once-{new_id()}"
    before = _counts(container)

    first = _post(client, path, body, _headers(container, case, key))
    assert first.status_code == case.status, first.text
    assert not _replayed(first)
    assert _change(before, _counts(container)) == case.effect
    after_first = _contents(container)

    clock.advance(timedelta(seconds=1))  # a second run would write other times
    again = _post(client, path, body, _headers(container, case, key))
    assert again.status_code == first.status_code, again.text
    assert _replayed(again)
    assert again.json() == first.json()
    # Both are the answer stored with the key, byte for byte.
    assert again.content == first.content
    assert first.text == _stored_response(container, key)
    assert _contents(container) == after_first


def _stored_response(container: Container, key: str) -> str:
    table = metadata.tables[KEY]
    with container.db.engine.connect() as connection:
        return str(
            connection.execute(select(table.c.response).where(table.c.key == key)).scalar_one()
        )


@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    operation: str, client: TestClient, container: Container, clock: FixedClock
) -> None:
    case = _case(operation)
    targets = case.setup(container, clock)
    key = f"reused-{new_id()}"
    first = _post(client, case.path(targets.id), case.body(clock), _headers(container, case, key))
    assert first.status_code == case.status, first.text
    before_counts, before = _counts(container), _contents(container)

    if case.other is SAME_BODY_OTHER_TARGET:
        path, other = case.path(targets.other), case.body(clock)
    else:
        assert callable(case.other)
        path, other = case.path(targets.id), case.other(clock)
    reused = _post(client, path, other, _headers(container, case, key))
    assert reused.status_code == 422, reused.text
    assert reused.headers["content-type"].split(";")[0] == PROBLEM_JSON
    problem = reused.json()
    assert (problem["status"], problem["code"]) == (422, "idempotency_key_reused")
    assert problem["type"].endswith("/idempotency_key_reused")
    assert problem["details"] == {"key": key}
    assert not _replayed(reused)
    assert _counts(container) == before_counts
    assert _contents(container) == before


@pytest.mark.parametrize("operation", OPERATIONS)
def test_concurrent_requests_with_one_key_make_one_effect(
    operation: str, container: Container, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _case(operation)
    targets = case.setup(container, clock)
    path, body, key = case.path(targets.id), case.body(clock), f"raced-{new_id()}"
    headers = _headers(container, case, key)
    before = _counts(container)
    # On PostgreSQL two requests that both found no key run their use case at once, every
    # time. SQLite's writers take turns (BEGIN IMMEDIATE): one would hold the other off.
    overlap = _overlapping(monkeypatch) if container.db.dialect == "postgresql" else None
    start = threading.Barrier(CONCURRENT_REQUESTS)
    answers: list[Any] = [None] * CONCURRENT_REQUESTS
    # Plain HTTP on loopback; one context for all clients spares each loading the CA bundle.
    tls = ssl.create_default_context()

    with _live_server(container) as base_url:

        def send(n: int) -> None:
            try:
                with httpx.Client(
                    base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS, verify=tls
                ) as http:
                    http.get("/healthz")  # connected before the race starts
                    start.wait(REQUEST_TIMEOUT_SECONDS)
                    answers[n] = _post(http, path, body, headers)
            except (httpx.HTTPError, threading.BrokenBarrierError) as exc:
                answers[n] = exc

        threads = [threading.Thread(target=send, args=(n,)) for n in range(CONCURRENT_REQUESTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT_SECONDS * 2)

    failed = [a for a in answers if not isinstance(a, httpx.Response)]
    assert not failed, failed
    documents = [answer.json() for answer in answers]
    # Everything at once, so that a failure shows the whole picture.
    seen = {
        "statuses": Counter(answer.status_code for answer in answers),
        "problems": Counter(
            document.get("code")
            for answer, document in zip(answers, documents, strict=True)
            if not answer.is_success
        ),
        "bodies": len({json.dumps(document, sort_keys=True) for document in documents}),
        "successes not replayed": sum(
            answer.is_success and not _replayed(answer) for answer in answers
        ),
        "change": _change(before, _counts(container)),
    }
    expected = {
        "statuses": {case.status: CONCURRENT_REQUESTS},
        "problems": {},
        "bodies": 1,
        "successes not replayed": 1,
        "change": case.effect,
    }
    assert seen == expected, f"saw {seen}"
    assert overlap is None or overlap.met or operation in DECIDED_BEFORE_THE_COMMAND
