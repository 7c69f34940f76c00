"""Champion/challenger: an experiment's challenger decides the lines of its cell for real, its
cuts announced ahead and sent with their notices; every decision keeps the line's cell, drawn
by a hash the test computes itself; a guardrail stops the challenger; refusals change
nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from conftest import headers
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from test_policy_lifecycle import ANALYST, APPROVER, book, candidate, submitted_and_simulated

from creditline.bootstrap import Container
from creditline.decisions.tables import policy_experiment_decisions, policy_experiments
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.ledger.tables import decisions
from creditline.notices.tables import outbox

CHAMPION = "cn-standard@2026.11.1"
CHALLENGER = "cn-standard@2026.12.1"
DAY = timedelta(days=1)
PROBLEM_JSON = "application/problem+json"


def bucket(salt: str, line_id: str) -> int:
    """The documented hash, computed here on its own."""
    digest = hashlib.sha256((salt + ":" + line_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], byteorder="big") % 10_000


def salt_for(challenger: list[str], champion: list[str], share_bp: int) -> str:
    """A salt that draws exactly `challenger` of these lines into the challenger's cell."""
    for n in range(10_000):
        salt = f"test-salt-{n}"
        if all(bucket(salt, line) < share_bp for line in challenger) and all(
            bucket(salt, line) >= share_bp for line in champion
        ):
            return salt
    raise AssertionError("no salt draws these cells")


def velocity(c: Container, agent: Actor, n: int) -> str:
    """A line with five drawdowns of 100.00 today: every version freezes it (velocity)."""
    borrower = Actor(f"fast-{n}", Role.BORROWER)
    line_id = str(
        c.ledger.open_line(agent, f"of{n}", borrower.subject, "CNY", "20000.00").document["id"]
    )
    for k in range(5):
        hold = c.ledger.place_hold(borrower, f"f{n}-{k}", line_id, "100.00", 12).document
        c.loans.post_drawdown(borrower, f"fp{n}-{k}", hold["id"])
    return line_id


def started(c: Container, salt: str, **guardrails: int) -> dict[str, Any]:
    settings = {
        "share_bp": 5000,
        "salt": salt,
        "adverse_rate_max_bp": 10_000,
        "exposure_change_max_bp": 10_000,
        "decisions_min": 1,
        **guardrails,
    }
    made = c.policies.create_experiment(APPROVER, "exp", CHALLENGER, settings, "try high use")
    return dict(made.document)


def messages(c: Container, topic: str) -> list[Any]:
    with c.db.reading() as connection:
        return list(connection.execute(select(outbox).where(outbox.c.topic == topic)).mappings())


def evidence_of(c: Container, line_id: str) -> list[dict[str, Any]]:
    """What the policy's decisions about the line saw (not the staff member's grant that
    opened it)."""
    with c.db.reading() as connection:
        rows = connection.execute(
            select(decisions.c.evidence, decisions.c.policy_version).where(
                decisions.c.line_id == line_id, decisions.c.actor_role == "service"
            )
        ).all()
    return [{**json.loads(row[0]), "policy_version": row[1]} for row in rows]


def test_the_challenger_decides_its_cell_for_real_with_notice_and_every_decision_has_its_cell(
    container: Container, client: TestClient, agent: Actor, clock: FixedClock
) -> None:
    lines = book(container, agent, ["12000.00", "12000.00"])  # used 60 %: the challenger cuts
    high_a, high_b = lines["borrower-0"], lines["borrower-1"]
    fast_c, fast_d = velocity(container, agent, 0), velocity(container, agent, 1)
    salt = salt_for([high_a, fast_d], [high_b, fast_c], 5000)
    submitted_and_simulated(container, candidate())
    made = started(container, salt)
    # The simulation found both high-use lines affected; only the challenger cell's is told.
    assert made["notices_queued"] == 1
    [told] = messages(container, "notice.policy_change")
    assert told["line_id"] == high_a
    assert container.policies.history(ANALYST, CHALLENGER)["state"] == "challenger"

    review = container.decisions.review_line
    assert review(high_a).outcome == "awaiting_notice"  # a policy cut waits its notice
    assert review(high_b).decision.policy == CHAMPION
    assert review(fast_c).outcome == "applied"  # the champion's freeze
    frozen = review(fast_d)  # the challenger's freeze: a risk the champion sees too
    assert (frozen.outcome, frozen.decision.policy) == ("applied", CHALLENGER)
    adverse = {m["line_id"] for m in messages(container, "notice.adverse_change")}
    assert adverse == {fast_c, fast_d}

    clock.advance(31 * DAY)  # the notice period has run: activation makes the announced cut
    assert container.policies.activate_due() == {"applied": 1}
    [cut] = evidence_of(container, high_a)
    assert cut["policy_version"] == CHALLENGER
    assert container.ledger.get_line(agent, high_a)["limit"] == "12000.00"
    assert high_a in {m["line_id"] for m in messages(container, "notice.adverse_change")}

    # Every recorded decision keeps the line's cell and the bucket anyone can compute.
    experiment_id = made["experiment_id"]
    for line_id, cell in ((high_a, "challenger"), (fast_c, "champion"), (fast_d, "challenger")):
        [kept] = evidence_of(container, line_id)
        assert kept["experiment"] == {
            "id": experiment_id,
            "cell": cell,
            "bucket": bucket(salt, line_id),
        }
        assert kept["policy_version"] == (CHALLENGER if cell == "challenger" else CHAMPION)
    with container.db.reading() as connection:
        stored = connection.execute(
            select(
                policy_experiment_decisions.c.line_id,
                policy_experiment_decisions.c.cell,
                policy_experiment_decisions.c.bucket,
            )
        ).all()
    assert len(stored) == 5
    for line_id, cell, drawn in stored:
        assert drawn == bucket(salt, line_id)
        assert cell == ("challenger" if drawn < 5000 else "champion")

    report = client.get(
        f"/v1/experiments/{experiment_id}", headers=headers(container, Role.ANALYST, "a-1")
    )
    assert report.status_code == 200, report.text
    cells = report.json()["cells"]
    challenger, champion = cells["challenger"], cells["champion"]
    # Challenger: line A twice (a cut held, then made) and line D frozen: 3 adverse of 3;
    # limits 20,000.00 + 20,000.00 before, 12,000.00 + 20,000.00 after.
    assert (challenger["decisions_total"], challenger["lines"]) == (3, 2)
    assert (challenger["adverse_count"], challenger["adverse_rate"]) == (3, "1.0000")
    assert (challenger["limit_before_minor"], challenger["limit_after_minor"]) == (
        4_000_000,
        3_200_000,
    )
    assert (challenger["exposure_change_minor"], challenger["exposure_change"]) == (
        -800_000,
        "-0.2000",
    )
    assert challenger["outcomes"] == {"applied": 2, "awaiting_notice": 1}
    # Champion: line B kept, line C frozen.
    assert (champion["decisions_total"], champion["adverse_rate"]) == (2, "0.5000")
    assert champion["actions"] == {"freeze": 1, "keep": 1}
    assert champion["exposure_change"] == "0.0000"
    assert report.json()["status"] == "running"


def test_a_book_review_decides_the_challenger_cell_with_the_challenger(
    container: Container, agent: Actor
) -> None:
    lines = book(container, agent, ["12000.00", "12000.00", "2000.00"])
    ids = list(lines.values())
    salt = salt_for([ids[0]], ids[1:], 5000)
    submitted_and_simulated(container, candidate())
    started(container, salt)
    assert container.decisions.review_book() == {"decrease:awaiting_notice": 1, "keep:kept": 2}
    with container.db.reading() as connection:
        stored = dict(
            connection.execute(
                select(policy_experiment_decisions.c.line_id, policy_experiment_decisions.c.policy)
            ).all()
        )
    assert stored == {ids[0]: CHALLENGER, ids[1]: CHAMPION, ids[2]: CHAMPION}


def test_a_guardrail_stops_the_challenger_and_its_lines_fall_back_to_the_champion(
    container: Container, agent: Actor
) -> None:
    lines = book(container, agent, ["12000.00", "12000.00"])
    high_a, high_b = lines["borrower-0"], lines["borrower-1"]
    salt = salt_for([high_a], [high_b], 5000)
    submitted_and_simulated(container, candidate(share_max="1"))
    experiment_id = started(container, salt, adverse_rate_max_bp=5000)["experiment_id"]

    # The challenger's first decision would cut: 1 adverse of 1 is above 50 %.
    fell_back = container.decisions.review_line(high_a)
    assert (fell_back.outcome, fell_back.decision.policy) == ("kept", CHAMPION)
    assert fell_back.decision.experiment is None
    report = container.policies.experiment_report(ANALYST, experiment_id)
    assert report["status"] == "stopped"
    stop = report["events"][-1]
    assert (stop["event"], stop["actor"]) == ("stopped", "service:creditline")
    assert "guardrail adverse_rate" in stop["justification"]
    assert stop["details"]["guardrail"] == "adverse_rate"
    assert (stop["details"]["observed"], stop["details"]["maximum"]) == ("1.0000", "0.5000")
    assert report["cells"]["challenger"]["decisions_total"] == 0
    history = container.policies.history(ANALYST, CHALLENGER)
    assert [s["state"] for s in history["steps"]][-2:] == ["challenger", "stopped"]
    assert container.ledger.get_line(agent, high_a)["limit"] == "20000.00"

    # Stopped, the experiment routes nobody; the challenger is promoted the usual way.
    assert container.decisions.review_line(high_a).decision.policy == CHAMPION
    with container.db.reading() as connection:
        count = select(func.count()).select_from(policy_experiment_decisions)
        assert connection.execute(count).scalar_one() == 0
    container.policies.simulate(ANALYST, "again", CHALLENGER)
    approved = container.policies.approve(APPROVER, "promote", CHALLENGER, None, "it held up")
    assert approved.document["state"] == "approved"


def test_experiment_refusals_are_problems_and_change_nothing(
    container: Container, client: TestClient, agent: Actor
) -> None:
    book(container, agent, ["12000.00", "0"])
    submitted_and_simulated(container, candidate(), author=APPROVER)
    body = {
        "challenger": CHALLENGER,
        "share_bp": 1000,
        "adverse_rate_max_bp": 500,
        "exposure_change_max_bp": 1000,
        "justification": "a tenth of the book",
    }

    def count() -> tuple[int, int]:
        with container.db.reading() as connection:
            return (
                connection.execute(
                    select(func.count()).select_from(policy_experiments)
                ).scalar_one(),
                connection.execute(select(func.count()).select_from(outbox)).scalar_one(),
            )

    before = count()

    def refused(path: str, role: Role, subject: str, sent: Any, status: int, code: str) -> None:
        response = client.post(path, headers=headers(container, role, subject), json=sent)
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert count() == before

    refused("/v1/experiments", Role.ANALYST, "analyst-1", body, 403, "forbidden")
    refused("/v1/experiments", Role.APPROVER, "approver-1", body, 403, "approver_is_author")
    for wrong in ({"share_bp": 0}, {"share_bp": 5001}, {"adverse_rate_max_bp": 10_001}):
        refused("/v1/experiments", Role.ADMIN, "admin-1", {**body, **wrong}, 422, "invalid_input")
    refused("/v1/experiments", Role.ADMIN, "admin-1", {**body, "justification": " "}, 422,
            "invalid_input")  # fmt: skip
    refused("/v1/experiments", Role.ADMIN, "admin-1", {**body, "challenger": CHAMPION}, 409,
            "policy_transition_refused")  # fmt: skip
    refused("/v1/experiments/nothing/stop", Role.ADMIN, "admin-1", {"justification": "x"}, 404,
            "experiment_not_found")  # fmt: skip
    assert container.policies.history(ANALYST, CHALLENGER)["state"] == "simulated"

    made = client.post("/v1/experiments", headers=headers(container, Role.ADMIN, "admin-1"),
                       json=body)  # fmt: skip
    assert made.status_code == 201, made.text
    experiment_id = made.json()["experiment_id"]
    before = count()
    refused("/v1/experiments", Role.ADMIN, "admin-2", body, 409, "policy_transition_refused")
    stop = f"/v1/experiments/{experiment_id}/stop"
    refused(stop, Role.ANALYST, "analyst-1", {"justification": "x"}, 403, "forbidden")
    stopped = client.post(stop, headers=headers(container, Role.ADMIN, "admin-1"),
                          json={"justification": "enough"})  # fmt: skip
    assert stopped.status_code == 200, stopped.text
    refused(stop, Role.ADMIN, "admin-1", {"justification": "again"}, 409, "experiment_stopped")
    listed = client.get("/v1/experiments", headers=headers(container, Role.AGENT, "ops-1"))
    assert [e["status"] for e in listed.json()["experiments"]] == ["stopped"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_one_experiment_at_a_time(container: Container, agent: Actor) -> None:
    book(container, agent, ["12000.00", "0"])
    submitted_and_simulated(container, candidate())
    started(container, "first")
    second = dict(candidate())
    second["version"] = "2026.12.2"
    label = container.policies.submit(ANALYST, "submit-2", second).document["policy"]
    container.policies.simulate(ANALYST, "simulate-2", label)
    settings = {"share_bp": 100, "adverse_rate_max_bp": 100, "exposure_change_max_bp": 100}
    with pytest.raises(Exception, match="an experiment runs already") as refused:
        container.policies.create_experiment(APPROVER, "exp-2", label, settings, "another")
    assert getattr(refused.value, "code", None) == "experiment_running"
