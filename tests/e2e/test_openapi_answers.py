"""Real answers are what the OpenAPI document says: the README's tour and the policy's life,
through the API, each success checked against its operation's documented status and schema
(JSON Schema 2020-12, as OpenAPI 3.1 writes it); every operation is answered at least once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import yaml
from conftest import headers
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from creditline.bootstrap import Container
from creditline.config import shipped_policy_file
from creditline.kernel.actors import Role
from creditline.kernel.clock import FixedClock
from creditline.portfolio.views import SECTIONS

ME = "b-tour"


class Checked:
    """Calls the API and checks each answer against the document; remembers which operations
    were answered."""

    def __init__(self, client: TestClient, container: Container) -> None:
        self.client = client
        self.container = container
        self.document: dict[str, Any] = client.get("/openapi.json").json()
        self.seen: set[str] = set()

    def __call__(
        self, role: Role, method: str, path: str, body: Any = None, **params: Any
    ) -> dict[str, Any]:
        who = ME if role is Role.BORROWER else f"{role.value}-1"
        concrete = path.format(**params)
        answer = self.client.request(
            method, concrete, json=body, headers=headers(self.container, role, who)
        )
        operation = self.document["paths"][path.split("?")[0]][method.lower()]
        self.seen.add(f"{method} {path.split('?')[0]}")
        (status,) = (s for s in operation["responses"] if s.startswith("2"))
        assert answer.status_code == int(status), (method, concrete, answer.text)
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        self.validate(schema, answer, f"{method} {path}")
        found: dict[str, Any] = answer.json()
        return found

    def validate(self, schema: dict[str, Any], answer: httpx.Response, name: str) -> None:
        rooted = {**schema, "components": self.document["components"]}
        errors = [
            f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in Draft202012Validator(rooted).iter_errors(answer.json())
        ]
        assert not errors, (name, errors)


def _policy(version: str) -> dict[str, Any]:
    document = yaml.safe_load(shipped_policy_file().read_text(encoding="utf-8"))
    document["version"] = version
    document["constraints"]["cooldown_days"] = 45
    return dict(document)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_answer_is_as_documented(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    call = Checked(client, container)
    agent, staff, analyst, approver = Role.AGENT, Role.ADMIN, Role.ANALYST, Role.APPROVER
    me = Role.BORROWER
    now = clock.now()

    # A borrower applies, and staff open a second line.
    call(
        me,
        "POST",
        "/v1/applications",
        {
            "borrower_id": ME,
            "currency": "CNY",
            "income_monthly": "12000.00",
            "income_evidence": True,
            "birth_date": "1990-05-01",
            "employment": "employed",
        },
    )
    opened = call(
        agent,
        "POST",
        "/v1/lines",
        {"borrower_id": ME, "currency": "CNY", "limit": "15000.00", "note": "a second line"},
    )
    line = opened["id"]
    call(me, "GET", "/v1/lines")
    call(me, "GET", "/v1/lines/{line_id}", line_id=line)

    # Quote, hold, post, a loan; another hold voided.
    drawdown = {"amount": "5000.00", "term_months": 12}
    call(me, "POST", "/v1/lines/{line_id}/quotes", drawdown, line_id=line)
    hold = call(me, "POST", "/v1/lines/{line_id}/drawdowns", drawdown, line_id=line)
    posted = call(me, "POST", "/v1/drawdowns/{drawdown_id}/post", {}, drawdown_id=hold["id"])
    loan = posted["loan_id"]
    voided = call(me, "POST", "/v1/lines/{line_id}/drawdowns", drawdown, line_id=line)
    call(me, "POST", "/v1/drawdowns/{drawdown_id}/void", drawdown_id=voided["id"])
    call(me, "GET", "/v1/loans/{loan_id}", loan_id=loan)
    call(me, "GET", "/v1/lines/{line_id}/loans", line_id=line)

    # Repaid with 10.00 too much, refunded; a freeze with its reasons.
    call(me, "POST", "/v1/loans/{loan_id}/repayments", {"amount": "5010.00"}, loan_id=loan)
    call(agent, "POST", "/v1/loans/{loan_id}/refunds", {}, loan_id=loan)
    freeze = {
        "action": "freeze",
        "reason_codes": ["drawdown_velocity"],
        "until": (now + timedelta(days=7)).isoformat(),
    }
    taken = call(agent, "POST", "/v1/lines/{line_id}/limit-changes", freeze, line_id=line)
    call(me, "GET", "/v1/decisions/{decision_id}", decision_id=taken["decision"]["id"])
    call(staff, "GET", "/v1/decisions/{decision_id}", decision_id=taken["decision"]["id"])
    call(me, "GET", "/v1/lines/{line_id}/journal", line_id=line)
    call(me, "GET", "/v1/lines/{line_id}/decisions", line_id=line)
    call(staff, "GET", "/v1/lines/{line_id}/decisions", line_id=line)
    call(me, "GET", "/v1/reason-codes")

    # A borrower's request, withdrawn; the lists of requests.
    request = call(me, "POST", "/v1/lines/{line_id}/requests", {"kind": "close"}, line_id=line)
    call(me, "POST", "/v1/requests/{request_id}/withdraw", request_id=request["id"])
    call(me, "GET", "/v1/lines/{line_id}/requests", line_id=line)
    call(staff, "GET", "/v1/requests")

    # Consent, a bureau report, reviews: automatic, then a person's.
    call(me, "POST", "/v1/consents", {"borrower_id": ME})
    clock.advance(timedelta(minutes=1))
    report = {
        "borrower_id": ME,
        "reported_at": clock.now().isoformat(),
        "lenders_with_open_loans": 5,
        "key_factors": [{"text": "many lenders", "code": "L5"}],
    }
    call(agent, "POST", "/v1/bureau-reports", report)
    first = call(me, "GET", "/v1/lines")["lines"][0]["id"]
    call(me, "POST", "/v1/lines/{line_id}/reviews", {}, line_id=first)
    human = {"human": True, "reason_text": "I repay on time"}
    review = call(me, "POST", "/v1/lines/{line_id}/reviews", human, line_id=first)["human_review"][
        "id"
    ]
    call(agent, "GET", "/v1/reviews")
    call(me, "GET", "/v1/reviews/{review_id}", review_id=review)
    decided = {"outcome": "uphold", "note": "checked"}
    call(agent, "POST", "/v1/reviews/{review_id}/decide", decided, review_id=review)
    call(agent, "GET", "/v1/reviews?status=decided")
    for lang in ("en", "zh-CN"):
        call(me, "GET", f"/v1/lines/{{line_id}}/explanation?lang={lang}", line_id=line)
    call(staff, "GET", "/v1/lines/{line_id}/explanation", line_id=first)
    today = clock.now().date()
    income = {
        "income_monthly": "15000.00",
        "currency": "CNY",
        "document_id": "payslip-1",
        "issued_on": (today - timedelta(days=1)).isoformat(),
        "expires_on": (today + timedelta(days=180)).isoformat(),
    }
    call(me, "POST", "/v1/verifications", {"kind": "income", "evidence": income})

    # The inbox and where notices go.
    container.dispatcher.run_until_idle()
    notices = call(me, "GET", "/v1/me/notices?lang=en")["notices"]
    call(me, "POST", "/v1/me/notices/{notice_id}/read", notice_id=notices[0]["id"])
    call(me, "GET", "/v1/me/notices?unread=true")
    call(me, "PUT", "/v1/me/preferences", {"email": "li.wei@example.com", "language": "en"})
    call(me, "GET", "/v1/me/preferences")

    # A policy's life: submitted, simulated, approved, scheduled; another retired; a third in
    # shadow, then a challenger.
    version = "cn-standard@2026.12.1"
    call(analyst, "POST", "/v1/policies", {"document": _policy("2026.12.1")})
    call(analyst, "POST", "/v1/policies/{label}/simulations", label=version)
    call(analyst, "GET", "/v1/policies/{label}/simulation", label=version)
    call(analyst, "GET", "/v1/policies/{label}/diff", label=version)
    approval = {"effective_at": (now + timedelta(days=31)).isoformat(), "justification": "why"}
    call(approver, "POST", "/v1/policies/{label}/approve", approval, label=version)
    call(approver, "POST", "/v1/policies/{label}/schedule", {}, label=version)
    call(analyst, "GET", "/v1/policies/{label}/history", label=version)
    call(analyst, "GET", "/v1/policies/{label}", label=version)
    call(analyst, "POST", "/v1/policies", {"document": _policy("2026.12.2")})
    withdrawn = {"justification": "withdrawn"}
    call(approver, "POST", "/v1/policies/{label}/retire", withdrawn, label="cn-standard@2026.12.2")
    trial = "cn-standard@2026.12.3"
    call(analyst, "POST", "/v1/policies", {"document": _policy("2026.12.3")})
    watch = {"justification": "watch it"}
    call(analyst, "POST", "/v1/policies/{label}/shadow", watch, label=trial)
    call(me, "POST", "/v1/lines/{line_id}/reviews", {}, line_id=first)
    call(analyst, "GET", "/v1/policies/{label}/shadow-report", label=trial)
    call(analyst, "POST", "/v1/policies/{label}/shadow/stop", watch, label=trial)
    call(analyst, "POST", "/v1/policies/{label}/simulations", label=trial)
    experiment = call(
        approver,
        "POST",
        "/v1/experiments",
        {
            "challenger": trial,
            "share_bp": 5000,
            "adverse_rate_max_bp": 500,
            "exposure_change_max_bp": 1000,
            "justification": "half the book",
        },
    )["experiment_id"]
    call(analyst, "GET", "/v1/experiments")
    call(analyst, "GET", "/v1/experiments/{experiment_id}", experiment_id=experiment)
    enough = {"justification": "enough data"}
    call(approver, "POST", "/v1/experiments/{experiment_id}/stop", enough, experiment_id=experiment)
    call(analyst, "GET", "/v1/policies")

    # The portfolio at the end of today, whole and by section; the model; a funder's month.
    day = f"date={today.isoformat()}"
    call(staff, "GET", f"/v1/reports/portfolio?{day}")
    for section in SECTIONS:
        call(staff, "GET", f"/v1/reports/portfolio/{{section}}?{day}", section=section)
    call(staff, "GET", f"/v1/reports/model?{day}")
    call(staff, "GET", f"/v1/reports/funders/{{funder}}?period={today:%Y-%m}", funder="lender")

    assert call.seen == {
        f"{method.upper()} {path}"
        for path, item in call.document["paths"].items()
        for method in item
    }
