"""Bad input over HTTP, on both stores: always a 4xx problem document, never a change.

Each case sends one bad request against a small book (two borrowers, each with a line, a loan
and a live hold) and checks the answer: status 4xx, `application/problem+json`, the problem's
`status` equal to the HTTP status, and a stable `code`. Then it checks that nothing changed:
both lines as an operator sees them, their journals, and the row count of every table
(outbox and idempotency keys included).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from creditline.api.app import create_app
from creditline.api.auth import issue_token
from creditline.bootstrap import Container, build
from creditline.config import Settings
from creditline.db.engine import normalise_url
from creditline.db.metadata import metadata
from creditline.kernel.actors import Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.ids import new_id
from creditline.ledger import tables as _ledger_tables  # noqa: F401 - registers the tables

TEST_PRODUCTS = Path(__file__).parents[1] / "fixtures" / "products.toml"

PROBLEM_JSON = "application/problem+json"
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
FREEZE_UNTIL = "2026-12-05T00:00:00+00:00"
ACTORS = {
    "borrower_a": (Role.BORROWER, "borrower-a"),
    "borrower_b": (Role.BORROWER, "borrower-b"),
    "agent": (Role.AGENT, "agent-1"),
    "analyst": (Role.ANALYST, "analyst-1"),
    "approver": (Role.APPROVER, "approver-1"),
}


@dataclass
class Book:
    """The book every case starts from, and the responses that built it."""

    client: TestClient
    container: Container
    ids: dict[str, str] = field(default_factory=dict)
    responses: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def headers(self, actor: str) -> dict[str, str]:
        role, subject = ACTORS[actor]
        now = self.container.clock.now()
        token = issue_token(self.container.settings.jwt_signing_key, role, subject, now)
        return {"Authorization": f"Bearer {token}"}

    def command(self, name: str, actor: str, path: str, body: Any, status: int) -> dict[str, Any]:
        """POST `body` under the idempotency key `name`; remember the request and response."""
        response = self.client.post(
            path, json=body, headers={**self.headers(actor), "Idempotency-Key": name}
        )
        assert response.status_code == status, response.text
        self.responses[name] = ({"actor": actor, "path": path, "body": body}, response.json())
        return response.json()


def _open_book(client: TestClient, container: Container) -> Book:
    book = Book(client, container)
    for who, limit, drawn, held in (
        ("a", "20000.00", "5000.00", "1000.00"),
        ("b", "8000.00", "3000.00", "500.00"),
    ):
        borrower = f"borrower_{who}"
        line = book.command(
            f"open-{who}",
            "agent",
            "/v1/lines",
            {"borrower_id": f"borrower-{who}", "currency": "CNY", "limit": limit},
            201,
        )
        lines = f"/v1/lines/{line['id']}/drawdowns"
        first = book.command(
            f"hold-{who}", borrower, lines, {"amount": drawn, "term_months": 12}, 201
        )
        loan = book.command(f"post-{who}", borrower, f"/v1/drawdowns/{first['id']}/post", None, 200)
        live = book.command(
            f"hold-{who}2", borrower, lines, {"amount": held, "term_months": 6}, 201
        )
        book.ids |= {
            f"line_{who}": line["id"],
            f"posted_drawdown_{who}": first["id"],
            f"loan_{who}": loan["loan_id"],
            f"drawdown_{who}": live["id"],
        }
    book.command(
        "repay-a",
        "borrower_a",
        f"/v1/loans/{book.ids['loan_a']}/repayments",
        {"amount": "100.00"},
        201,
    )
    book.command(
        "freeze-b",
        "agent",
        f"/v1/lines/{book.ids['line_b']}/limit-changes",
        {"action": "freeze", "reason_codes": ["overdue_payment"], "until": FREEZE_UNTIL},
        201,
    )
    # A decided application: the active policy is on file (its first use seeds it).
    apply_d = _APPLICATION | {"borrower_id": "borrower-d", "income_monthly": "9000.00"}
    book.command("apply-d", "agent", "/v1/applications", apply_d, 201)
    book.ids["missing"] = new_id()
    return book


@dataclass
class Shelf:
    """One store's book, kept across cases while they leave it as it was (they should)."""

    store: str
    sqlite_template: Path
    directory: Path
    postgres_url: Callable[[], str]
    book: Book | None = None
    baseline: dict[str, Any] | None = None
    generation: int = 0

    def current(self) -> Book:
        if self.book is not None:
            try:
                if _snapshot(self.book) == self.baseline:
                    return self.book
            except AssertionError:
                pass
            self.close()  # a case changed the book (a bug it caught): start the next afresh
        container = build(
            Settings(
                database_url=self._empty_database(),
                products_file=TEST_PRODUCTS,
                review_triggers=False,
            ),
            FixedClock(START),
            migrate=False,
        )
        client = TestClient(create_app(container), raise_server_exceptions=False)
        client.__enter__()
        self.book = _open_book(client, container)
        self.baseline = _snapshot(self.book)
        return self.book

    def _empty_database(self) -> str:
        self.generation += 1
        if self.store == "sqlite":
            path = self.directory / f"book-{self.generation}.db"
            shutil.copy(self.sqlite_template, path)
            return f"sqlite:///{path}"
        url = self.postgres_url()
        engine = create_engine(normalise_url(url))
        names = ", ".join(table.name for table in metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {names}"))
        engine.dispose()
        return url

    def close(self) -> None:
        if self.book is not None:
            self.book.client.__exit__(None, None, None)
            self.book.container.close()
        self.book = self.baseline = None


@pytest.fixture(scope="module", params=("sqlite", "postgresql"))
def shelf(
    request: pytest.FixtureRequest,
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Shelf]:
    shelf = Shelf(
        request.param,
        sqlite_template,
        tmp_path_factory.mktemp("bad-input"),
        lambda: str(request.getfixturevalue("postgres_url")),
    )
    yield shelf
    shelf.close()


@pytest.fixture
def book(shelf: Shelf) -> Book:
    return shelf.current()


def _snapshot(book: Book) -> dict[str, Any]:
    agent = book.headers("agent")
    state: dict[str, Any] = {}
    for who in ("a", "b"):
        line_id = book.ids[f"line_{who}"]
        line = book.client.get(f"/v1/lines/{line_id}", headers=agent)
        journal = book.client.get(f"/v1/lines/{line_id}/journal?limit=500", headers=agent)
        assert line.status_code == journal.status_code == 200
        state[f"line_{who}"] = line.json()
        state[f"journal_{who}"] = len(journal.json()["entries"])
    with book.container.db.reading() as connection:
        for table in metadata.sorted_tables:
            count = select(func.count()).select_from(table)
            state[f"rows_{table.name}"] = connection.execute(count).scalar_one()
    return state


# --- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    path: str  # `{line_a}` and the like are replaced by the book's ids
    status: int
    code: str | tuple[str, ...]  # a tuple where either layer may rightly refuse first
    actor: str | None = "borrower_a"
    body: Any = None
    raw: bytes | None = None  # sent as-is instead of `body`
    method: str = "POST"
    key: str | None = "auto"  # None: no Idempotency-Key header
    authorization: str | None = None  # replaces the actor's header


HOLD = "/v1/lines/{line_a}/drawdowns"
POST = "/v1/drawdowns/{drawdown_a}/post"
REPAY = "/v1/loans/{loan_a}/repayments"
CHANGE = "/v1/lines/{line_a}/limit-changes"
OPEN = "/v1/lines"


def _hold(amount: Any, term_months: Any = 12) -> dict[str, Any]:
    return {"amount": amount, "term_months": term_months}


def _open(limit: Any = "1000.00", currency: Any = "CNY", borrower: Any = "borrower-c") -> Any:
    return {"borrower_id": borrower, "currency": currency, "limit": limit}


def _freeze(**overrides: Any) -> dict[str, Any]:
    return {
        "action": "freeze",
        "reason_codes": ["fraud_suspected"],
        "until": FREEZE_UNTIL,
        **overrides,
    }


AMOUNTS = [
    Case("hold-negative", HOLD, 422, "invalid_amount", body=_hold("-5.00")),
    Case("hold-zero", HOLD, 422, "invalid_amount", body=_hold("0.00")),
    Case("hold-bare-zero", HOLD, 422, "invalid_amount", body=_hold("0")),
    Case("hold-three-decimals", HOLD, 422, "invalid_amount", body=_hold("5.001")),
    Case("hold-trailing-zero-decimal", HOLD, 422, "invalid_amount", body=_hold("5.000")),
    Case("hold-float", HOLD, 422, "invalid_amount", body=_hold(5000.0)),
    Case("hold-integer", HOLD, 422, "invalid_amount", body=_hold(5000)),
    Case("hold-null", HOLD, 422, "invalid_amount", body=_hold(None)),
    Case("hold-missing-amount", HOLD, 422, "invalid_amount", body={"term_months": 12}),
    Case("hold-huge", HOLD, 422, "invalid_amount", body=_hold("99999999999999999999.00")),
    Case(
        "hold-huge-number", HOLD, 422, "invalid_amount", raw=b'{"amount": 1e400, "term_months": 12}'
    ),
    Case("hold-over-available", HOLD, 409, "insufficient_available_credit", body=_hold("14100.01")),
    Case("hold-exponent", HOLD, 422, "invalid_amount", body=_hold("5e3")),
    Case("hold-exponent-upper", HOLD, 422, "invalid_amount", body=_hold("5E+3")),
    Case("hold-exponent-negative", HOLD, 422, "invalid_amount", body=_hold("1e-2")),
    Case("hold-nan", HOLD, 422, "invalid_amount", body=_hold("NaN")),
    Case("hold-json-nan", HOLD, 422, "invalid_amount", raw=b'{"amount": NaN, "term_months": 12}'),
    Case("hold-infinity", HOLD, 422, "invalid_amount", body=_hold("Infinity")),
    Case("hold-empty", HOLD, 422, "invalid_amount", body=_hold("")),
    Case("hold-blank", HOLD, 422, "invalid_amount", body=_hold("   ")),
    Case("hold-thousands-comma", HOLD, 422, "invalid_amount", body=_hold("5,000.00")),
    Case("hold-hex", HOLD, 422, "invalid_amount", body=_hold("0x1F")),
    Case("hold-with-currency", HOLD, 422, "invalid_amount", body=_hold("5000.00 CNY")),
    Case("hold-too-long", HOLD, 422, "invalid_amount", body=_hold("1" * 41)),
    # A decimal string is ASCII digits: Python's Decimal also reads "5_000" and other scripts.
    Case("hold-underscore", HOLD, 422, "invalid_amount", body=_hold("5_000.00")),
    Case("hold-fullwidth-digits", HOLD, 422, "invalid_amount", body=_hold("５０００.００")),
    Case("hold-term-zero", HOLD, 422, "invalid_input", body=_hold("1.00", 0)),
    Case("hold-term-too-long", HOLD, 422, "invalid_input", body=_hold("1.00", 37)),
    Case("hold-term-string", HOLD, 422, "invalid_request", body=_hold("1.00", "12")),
    Case("hold-term-float", HOLD, 422, "invalid_request", body=_hold("1.00", 12.0)),
    Case("hold-term-bool", HOLD, 422, "invalid_request", body=_hold("1.00", True)),
    Case(
        "hold-extra-field",
        HOLD,
        422,
        "invalid_request",
        body={"amount": "1.00", "term_months": 12, "currency": "USD"},
    ),
    Case("post-more-than-held", POST, 422, "invalid_amount", body={"amount": "1000.01"}),
    Case("post-zero", POST, 422, "invalid_amount", body={"amount": "0.00"}),
    Case("post-float", POST, 422, "invalid_amount", body={"amount": 10.0}),
    Case("post-posted", "/v1/drawdowns/{posted_drawdown_a}/post", 409, "drawdown_not_held"),
    Case("void-posted", "/v1/drawdowns/{posted_drawdown_a}/void", 409, "drawdown_not_held"),
    Case(
        "hold-frozen-line",
        "/v1/lines/{line_b}/drawdowns",
        409,
        "line_frozen",
        actor="borrower_b",
        body=_hold("1.00"),
    ),
    Case("repay-negative", REPAY, 422, "invalid_amount", body={"amount": "-1.00"}),
    Case("repay-zero", REPAY, 422, "invalid_amount", body={"amount": "0"}),
    Case("repay-float", REPAY, 422, "invalid_amount", body={"amount": 100.0}),
    Case("repay-exponent", REPAY, 422, "invalid_amount", body={"amount": "1E2"}),
]

OPENING = [
    Case("open-unknown-currency", OPEN, 422, "unknown_currency", "agent", _open(currency="XYZ")),
    Case("open-lowercase-currency", OPEN, 422, "unknown_currency", "agent", _open(currency="cny")),
    Case("open-currency-number", OPEN, 422, "invalid_request", "agent", _open(currency=156)),
    Case("open-negative-limit", OPEN, 422, "invalid_amount", "agent", _open("-1.00")),
    Case("open-float-limit", OPEN, 422, "invalid_amount", "agent", _open(20000.0)),
    Case("open-yen-decimals", OPEN, 422, "invalid_amount", "agent", _open("100.5", "JPY")),
    Case("open-huge-limit", OPEN, 422, "invalid_amount", "agent", _open("1" * 20 + ".00")),
    Case("open-empty-borrower", OPEN, 422, "invalid_request", "agent", _open(borrower="")),
    Case("open-long-borrower", OPEN, 422, "invalid_request", "agent", _open(borrower="b" * 65)),
    Case(
        "open-nul-borrower",
        OPEN,
        422,
        ("invalid_input", "invalid_request"),
        "agent",
        _open(borrower="borrower-\u0000"),
    ),
]

AUTH = [
    Case("no-token", HOLD, 401, "unauthenticated", actor=None, body=_hold("1.00")),
    Case("no-token-get", "/v1/lines/{line_a}", 401, "unauthenticated", actor=None, method="GET"),
    Case(
        "garbage-token",
        HOLD,
        401,
        "unauthenticated",
        body=_hold("1.00"),
        authorization="Bearer not.a.token",
    ),
    Case(
        "basic-scheme",
        HOLD,
        401,
        "unauthenticated",
        body=_hold("1.00"),
        authorization="Basic Ym9ycm93ZXItYTpwYXNz",
    ),
    Case(
        "wrong-signing-key",
        HOLD,
        401,
        "unauthenticated",
        body=_hold("1.00"),
        authorization="token:wrong-key",
    ),
    Case(
        "expired-token",
        HOLD,
        401,
        "token_expired",
        body=_hold("1.00"),
        authorization="token:expired",
    ),
    Case(
        "unknown-role",
        "/v1/lines/{line_a}",
        401,
        "unauthenticated",
        method="GET",
        authorization="token:role=root",
    ),
    Case(
        "token-without-expiry",
        HOLD,
        401,
        "unauthenticated",
        body=_hold("1.00"),
        authorization="token:no-exp",
    ),
    Case(
        "unsigned-token",
        HOLD,
        401,
        "unauthenticated",
        body=_hold("1.00"),
        authorization="token:alg-none",
    ),
]

ROLES = [
    Case("borrower-opens-line", OPEN, 403, "forbidden", "borrower_a", _open(borrower="borrower-a")),
    Case("analyst-opens-line", OPEN, 403, "forbidden", "analyst", _open()),
    Case("borrower-freezes", CHANGE, 403, "forbidden", body=_freeze()),
    Case(
        "borrower-raises-own-limit",
        CHANGE,
        403,
        "forbidden",
        body={"action": "increase", "limit": "50000.00", "reason_codes": ["borrower_request"]},
    ),
    Case(
        "agent-increases",
        CHANGE,
        403,
        "forbidden",
        "agent",
        {"action": "increase", "limit": "30000.00", "reason_codes": ["income_verified"]},
    ),
    Case(
        "agent-decreases",
        CHANGE,
        403,
        "forbidden",
        "agent",
        {"action": "decrease", "limit": "10000.00", "reason_codes": ["utilisation_high"]},
    ),
    Case(
        "agent-closes",
        CHANGE,
        403,
        "forbidden",
        "agent",
        {"action": "close", "reason_codes": ["fraud_suspected"]},
    ),
    Case("analyst-freezes", CHANGE, 403, "forbidden", "analyst", _freeze()),
]

DECISIONS = [
    Case(
        "unknown-action",
        CHANGE,
        422,
        "invalid_input",
        "approver",
        {"action": "zero_out", "reason_codes": ["utilisation_high"]},
    ),
    Case(
        "decrease-below-utilisation",
        CHANGE,
        409,
        "limit_below_utilisation",
        "approver",
        {"action": "decrease", "limit": "5899.99", "reason_codes": ["utilisation_high"]},
    ),
    Case(
        "decrease-to-zero",
        CHANGE,
        422,
        "limit_below_minimum",
        "approver",
        {"action": "decrease", "limit": "0.00", "reason_codes": ["utilisation_high"]},
    ),
    Case(
        "increase-that-lowers",
        CHANGE,
        409,
        "invalid_limit_change",
        "approver",
        {"action": "increase", "limit": "100.00", "reason_codes": ["income_verified"]},
    ),
    Case(
        "decrease-bad-amount",
        CHANGE,
        422,
        "invalid_amount",
        "approver",
        {"action": "decrease", "limit": "abc", "reason_codes": ["utilisation_high"]},
    ),
    Case(
        "decrease-float",
        CHANGE,
        422,
        "invalid_amount",
        "approver",
        {"action": "decrease", "limit": 10000.0, "reason_codes": ["utilisation_high"]},
    ),
    Case(
        "unfreeze-active-line",
        CHANGE,
        409,
        "invalid_limit_change",
        "agent",
        {"action": "unfreeze", "reason_codes": ["risk_resolved"]},
    ),
    Case(
        "restore-active-line",
        CHANGE,
        409,
        "invalid_limit_change",
        "agent",
        {"action": "restore", "reason_codes": ["verification_completed"]},
    ),
    Case(
        "freeze-without-until",
        CHANGE,
        422,
        "invalid_input",
        "agent",
        {"action": "freeze", "reason_codes": ["fraud_suspected"]},
    ),
    Case(
        "freeze-until-past",
        CHANGE,
        422,
        "invalid_input",
        "agent",
        _freeze(until="2026-11-28T08:59:59+00:00"),
    ),
    Case(
        "freeze-until-now",
        CHANGE,
        422,
        "invalid_input",
        "agent",
        _freeze(until="2026-11-28T09:00:00+00:00"),
    ),
    Case(
        "freeze-too-long",
        CHANGE,
        422,
        "invalid_input",
        "agent",
        _freeze(until="2027-12-01T00:00:00+00:00"),
    ),
    Case(
        "freeze-naive-until",
        CHANGE,
        422,
        "invalid_request",
        "agent",
        _freeze(until="2026-12-05T00:00:00"),
    ),
    Case("freeze-with-limit", CHANGE, 422, "invalid_input", "agent", _freeze(limit="1.00")),
    Case("no-reasons", CHANGE, 422, "invalid_input", "agent", _freeze(reason_codes=[])),
    Case(
        "five-reasons",
        CHANGE,
        422,
        "invalid_input",
        "agent",
        _freeze(
            reason_codes=[
                "fraud_suspected",
                "overdue_payment",
                "utilisation_high",
                "multiple_lenders",
                "bureau_inquiries",
            ]
        ),
    ),
    Case(
        "unknown-reason",
        CHANGE,
        422,
        "invalid_input",
        "agent",
        _freeze(reason_codes=["internal_standards"]),
    ),
    Case(
        "repeated-reason",
        CHANGE,
        422,
        "invalid_input",
        "agent",
        _freeze(reason_codes=["fraud_suspected", "fraud_suspected"]),
    ),
    Case(
        "favourable-reason-for-freeze",
        CHANGE,
        422,
        "invalid_input",
        "agent",
        _freeze(reason_codes=["good_repayment_history"]),
    ),
    Case(
        "reasons-not-a-list",
        CHANGE,
        422,
        "invalid_request",
        "agent",
        _freeze(reason_codes="fraud_suspected"),
    ),
    Case("note-too-long", CHANGE, 422, "invalid_input", "agent", _freeze(note="n" * 1001)),
    Case(
        "note-with-nul",
        CHANGE,
        422,
        "invalid_input",
        "agent",
        _freeze(note="called\u0000"),
    ),
    Case(
        "policy-version-too-long",
        CHANGE,
        422,
        "invalid_input",
        "agent",
        _freeze(policy_version="v" * 65),
    ),
]

IDEMPOTENCY = [
    Case("missing-key", HOLD, 400, "idempotency_key_missing", body=_hold("1.00"), key=None),
    Case("empty-key", HOLD, 400, "idempotency_key_missing", body=_hold("1.00"), key=""),
    Case("key-too-long", HOLD, 422, "invalid_idempotency_key", body=_hold("1.00"), key="k" * 256),
    Case(
        "key-reused-other-amount",
        HOLD,
        422,
        "idempotency_key_reused",
        body=_hold("999.00", 6),
        key="hold-a2",
    ),
    Case(
        "key-reused-other-term",
        HOLD,
        422,
        "idempotency_key_reused",
        body=_hold("1000.00", 7),
        key="hold-a2",
    ),
    Case(
        "key-reused-other-command",
        REPAY,
        422,
        "idempotency_key_reused",
        body={"amount": "1000.00"},
        key="hold-a2",
    ),
    Case(
        "key-reused-post-partial",
        "/v1/drawdowns/{posted_drawdown_a}/post",
        422,
        "idempotency_key_reused",
        body={"amount": "1.00"},
        key="post-a",
    ),
    Case(
        "key-reused-open",
        OPEN,
        422,
        "idempotency_key_reused",
        "agent",
        _open("20000.00", borrower="borrower-a"),
        key="open-b",
    ),
    Case(
        "key-reused-freeze",
        "/v1/lines/{line_b}/limit-changes",
        422,
        "idempotency_key_reused",
        "agent",
        {
            "action": "freeze",
            "reason_codes": ["overdue_payment"],
            "until": "2026-12-06T00:00:00+00:00",
        },
        key="freeze-b",
    ),
]

FOREIGN = [
    Case("foreign-line", "/v1/lines/{line_a}", 404, "line_not_found", "borrower_b", method="GET"),
    Case(
        "foreign-journal",
        "/v1/lines/{line_a}/journal",
        404,
        "line_not_found",
        "borrower_b",
        method="GET",
    ),
    Case(
        "foreign-requests",
        "/v1/lines/{line_a}/requests",
        404,
        "line_not_found",
        "borrower_b",
        method="GET",
    ),
    Case(
        "foreign-ask",
        "/v1/lines/{line_a}/requests",
        404,
        "line_not_found",
        "borrower_b",
        {"kind": "close"},
    ),
    Case("foreign-hold", HOLD, 404, "line_not_found", "borrower_b", _hold("1.00")),
    Case("foreign-post", POST, 404, "drawdown_not_found", "borrower_b"),
    Case(
        "foreign-void", "/v1/drawdowns/{drawdown_a}/void", 404, "drawdown_not_found", "borrower_b"
    ),
    Case("foreign-repay", REPAY, 404, "loan_not_found", "borrower_b", {"amount": "1.00"}),
    Case("missing-line", "/v1/lines/{missing}", 404, "line_not_found", "agent", method="GET"),
    Case(
        "missing-loan",
        "/v1/loans/{missing}/repayments",
        404,
        "loan_not_found",
        "agent",
        {"amount": "1.00"},
    ),
    Case(
        "missing-line-change",
        "/v1/lines/{missing}/limit-changes",
        404,
        "line_not_found",
        "agent",
        _freeze(),
    ),
    Case(
        "missing-request-withdrawn",
        "/v1/requests/{missing}/withdraw",
        404,
        "borrower_request_not_found",
        "borrower_a",
    ),
    # A NUL is refused at the edge, before any lookup (tests/e2e/test_http_nul_bytes.py).
    Case("nul-line-id", "/v1/lines/%00", 422, "invalid_input", "agent", method="GET"),
    Case("nul-drawdown-id", "/v1/drawdowns/%00/void", 422, "invalid_input"),
    Case("long-line-id", "/v1/lines/" + "x" * 5000, 404, "line_not_found", "agent", method="GET"),
]

SHAPE = [
    Case("malformed-json", HOLD, 400, "malformed_json", raw=b'{"amount": "1.00",'),
    Case("not-json", HOLD, 400, "malformed_json", raw=b"amount=1.00&term_months=12"),
    Case("json-array", HOLD, 422, "invalid_request", body=["1.00", 12]),
    Case("json-string", HOLD, 422, "invalid_request", body="1.00"),
    Case("empty-body", HOLD, 422, ("invalid_request", "invalid_amount"), raw=b""),
    Case("no-such-route", "/v1/lines/{line_a}/withdrawals", 404, "not_found", body={}),
    Case("wrong-method", "/v1/lines/{line_a}/drawdowns", 405, "method_not_allowed", method="GET"),
    Case(
        "journal-limit-zero",
        "/v1/lines/{line_a}/journal?limit=0",
        422,
        "invalid_request",
        method="GET",
    ),
    Case(
        "journal-limit-too-big",
        "/v1/lines/{line_a}/journal?limit=501",
        422,
        "invalid_request",
        method="GET",
    ),
    Case(
        "journal-after-negative",
        "/v1/lines/{line_a}/journal?after_seq=-1",
        422,
        "invalid_request",
        method="GET",
    ),
    Case(
        "journal-after-huge",
        "/v1/lines/{line_a}/journal?after_seq=9223372036854775808",
        422,
        "invalid_request",
        method="GET",
    ),
    Case(
        "journal-after-not-a-number",
        "/v1/lines/{line_a}/journal?after_seq=ten",
        422,
        "invalid_request",
        method="GET",
    ),
]

# Issue 11, item 2: the forms a lenient parser would take are 422 on every path an amount
# enters by, as every other odd form (`tests/unit/kernel/test_money_strict.py` has them all).
ODD_FORMS = {"space": " 500.00", "tab": "500.00\t", "plus": "+500.00", "nbsp": "5\u00a0000.00"}
_APPLICATION = {
    "borrower_id": "borrower-c",
    "currency": "CNY",
    "income_evidence": False,
    "birth_date": "1990-05-01",
    "employment": "employed",
}
_ODD_PATHS: list[tuple[str, str, str, Callable[[str], Any]]] = [
    ("hold", HOLD, "borrower_a", _hold),
    ("repay", REPAY, "borrower_a", lambda text: {"amount": text}),
    ("open", OPEN, "agent", _open),
    (
        "decrease",
        CHANGE,
        "approver",
        lambda text: {"action": "decrease", "limit": text, "reason_codes": ["utilisation_high"]},
    ),
    (
        "borrower-request",
        "/v1/lines/{line_a}/requests",
        "borrower_a",
        lambda text: {"kind": "decrease", "limit": text},
    ),
    ("income", "/v1/applications", "agent", lambda text: _APPLICATION | {"income_monthly": text}),
    (
        "obligations",
        "/v1/applications",
        "agent",
        lambda text: _APPLICATION | {"income_monthly": "9000.00", "obligations_monthly": text},
    ),
]
ODD_AMOUNTS = [
    Case(f"{where}-{form}", path, 422, "invalid_amount", actor, body(text))
    for where, path, actor, body in _ODD_PATHS
    for form, text in ODD_FORMS.items()
]

CASES = AMOUNTS + ODD_AMOUNTS + OPENING + AUTH + ROLES + DECISIONS + IDEMPOTENCY + FOREIGN + SHAPE


def _authorization(book: Book, case: Case) -> dict[str, str]:
    if case.authorization is None:
        return {} if case.actor is None else book.headers(case.actor)
    if not case.authorization.startswith("token:"):
        return {"Authorization": case.authorization}
    now = book.container.clock.now()
    signing_key = book.container.settings.jwt_signing_key
    key = signing_key.secret
    claims: dict[str, Any] = {
        "sub": "borrower-a",
        "role": "borrower",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(hours=1),
    }
    variant = case.authorization.removeprefix("token:")
    if variant == "wrong-key":
        key = "another-signing-key-entirely-32-bytes-or-more"
    elif variant == "expired":
        claims |= {"iat": now - timedelta(hours=2), "exp": now - timedelta(minutes=1)}
    elif variant.startswith("role="):
        claims["role"] = variant.removeprefix("role=")
    elif variant == "no-exp":
        del claims["exp"]
    if variant == "alg-none":
        token = jwt.encode(claims, None, algorithm="none", headers={"kid": signing_key.kid})
    else:
        token = jwt.encode(claims, key, algorithm="HS256", headers={"kid": signing_key.kid})
    return {"Authorization": f"Bearer {token}"}


def _send(book: Book, case: Case) -> Any:
    headers = _authorization(book, case)
    if case.method == "POST" and case.key is not None:
        headers["Idempotency-Key"] = f"bad-{case.id}" if case.key == "auto" else case.key
    path = case.path.format(**book.ids) if "{" in case.path else case.path
    if case.raw is not None:
        headers["Content-Type"] = "application/json"
        return book.client.request(case.method, path, content=case.raw, headers=headers)
    if case.method == "POST" and case.body is not None:
        return book.client.post(
            path,
            content=json.dumps(case.body),
            headers={**headers, "Content-Type": "application/json"},
        )
    return book.client.request(case.method, path, headers=headers)


def _assert_problem(response: Any, status: int, code: str | tuple[str, ...]) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == status
    codes = (code,) if isinstance(code, str) else code
    assert problem["code"] in codes, problem
    assert problem["type"].endswith("/" + problem["code"])
    assert problem["title"] and problem["detail"]
    return problem


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_request_is_a_problem_and_changes_nothing(book: Book, case: Case) -> None:
    before = _snapshot(book)
    response = _send(book, case)
    assert response.status_code < 500, response.text
    _assert_problem(response, case.status, case.code)
    assert _snapshot(book) == before
    # Refused, not stored: the same request is judged afresh, with the same answer.
    again = _send(book, case)
    assert (again.status_code, again.json()["code"]) == (
        response.status_code,
        response.json()["code"],
    )
    assert _snapshot(book) == before


LEAKS = [case for case in FOREIGN if case.id.startswith("foreign-")]


@pytest.mark.parametrize("case", LEAKS, ids=[case.id for case in LEAKS])
def test_another_borrowers_resource_looks_like_no_resource(book: Book, case: Case) -> None:
    """The refusal for someone else's line, hold or loan is the one for an id that is unknown."""
    foreign = _send(book, case)
    resource = case.path.split("{")[1].split("}")[0]
    unknown = _send(
        book,
        Case(
            case.id,
            case.path.replace(resource, "missing"),
            404,
            case.code,
            case.actor,
            case.body,
            method=case.method,
        ),
    )
    foreign_problem = _assert_problem(foreign, 404, case.code)
    unknown_problem = _assert_problem(unknown, 404, case.code)
    scrub = {book.ids[resource]: "<id>", book.ids["missing"]: "<id>"}

    def scrubbed(problem: dict[str, Any]) -> str:
        text = json.dumps(problem, sort_keys=True)
        for value, mask in scrub.items():
            text = text.replace(value, mask)
        return text

    assert scrubbed(foreign_problem) == scrubbed(unknown_problem)
    assert "borrower-a" not in foreign.text


REPLAYS = ["open-a", "hold-a", "post-a", "hold-a2", "repay-a", "freeze-b"]


@pytest.mark.parametrize("name", REPLAYS)
def test_replay_with_the_same_key_returns_the_first_answer_and_changes_nothing(
    book: Book, name: str
) -> None:
    request, first = book.responses[name]
    before = _snapshot(book)
    response = book.client.post(
        request["path"],
        json=request["body"],
        headers={**book.headers(request["actor"]), "Idempotency-Key": name},
    )
    assert response.status_code in (200, 201), response.text
    assert response.headers.get("Idempotent-Replayed") == "true"
    # The stored answer, even though the state moved on since (a hold since posted, ...).
    assert response.json() == first
    assert _snapshot(book) == before


def test_a_first_request_is_not_marked_as_replayed(book: Book) -> None:
    response = book.client.post(
        HOLD.format(**book.ids),
        json=_hold("1.00"),
        headers={**book.headers("borrower_a"), "Idempotency-Key": "fresh"},
    )
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


def test_the_same_key_from_another_borrower_is_their_own_key(book: Book) -> None:
    """Keys are scoped by actor: borrower b's "hold-a2" is a new request, not a's replayed."""
    before = _snapshot(book)
    response = book.client.post(
        "/v1/loans/{loan_b}/repayments".format(**book.ids),
        json={"amount": "1.00"},
        headers={**book.headers("borrower_b"), "Idempotency-Key": "hold-a2"},
    )
    assert response.status_code == 201, response.text
    assert "Idempotent-Replayed" not in response.headers
    assert response.json()["loan_id"] == book.ids["loan_b"]
    after = _snapshot(book)
    assert after["rows_repayments"] == before["rows_repayments"] + 1
    assert after["rows_idempotency_keys"] == before["rows_idempotency_keys"] + 1
    assert after["line_a"] == before["line_a"]
