"""Versions on trial read the lender attributes they use, on both stores: a challenger or a
shadow whose policy reads an attribute the active version does not decides on the borrower's
value of it, on a line's own review and in a book review (docs/decisions/0018, 0022).

The candidate is the shipped policy reading the test registry's `arrears_months`: scored
(under 1 month: 40 points, under 3: 15, from 3 up: 0) and suspending a line from 6 months
up. The lender's file says b-late has 6 months and b-clean 0; the active version reads
neither.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLE_POLICY, suite_settings
from sqlalchemy import select
from test_experiments import CHALLENGER, CHAMPION, salt_for, started
from test_policy_lifecycle import ANALYST, submitted_and_simulated

from creditline.bootstrap import Container, build
from creditline.decisions.attributes import load_registry
from creditline.decisions.tables import policy_experiment_decisions, policy_shadow_decisions
from creditline.kernel.actors import Actor
from creditline.kernel.clock import FixedClock

REGISTRY = Path(__file__).parents[1] / "fixtures" / "lender_attributes.toml"
ARREARS = yaml.safe_load((REGISTRY.parent / "arrears_attribute.yaml").read_text(encoding="utf-8"))
BORROWERS = ("b-late", "b-clean", "b-other")


@pytest.fixture
def lender(database_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Container]:
    settings = dataclasses.replace(suite_settings(database_url), attributes_file=REGISTRY)
    built = build(settings, clock, migrate=False)
    values = tmp_path / "arrears.csv"
    values.write_text("borrower_id,arrears_months\nb-late,6\nb-clean,0\nb-other,6\n")
    built.attributes.load(values)
    yield built
    built.close()


def candidate() -> dict[str, Any]:
    document = yaml.safe_load(EXAMPLE_POLICY.read_text(encoding="utf-8"))
    document["version"] = "2026.12.1"
    document["guardrails"] = {"adverse_share_max": "0.9"}  # two of the three lines suspended
    document["attributes"] = [load_registry(REGISTRY)["arrears_months"].model_dump(mode="json")]
    document["scorecard"]["attributes"].append(copy.deepcopy(ARREARS))
    document["rules"].append(
        {
            "id": "arrears",
            "when": "arrears_months >= 6",
            "action": "suspend",
            "reason": "late_payments_history",
            "priority": 99,
        }
    )
    return dict(document)


def opened(c: Container, agent: Actor) -> dict[str, str]:
    return {
        borrower: str(
            c.ledger.open_line(agent, f"open-{borrower}", borrower, "CNY", "20000.00").document[
                "id"
            ]
        )
        for borrower in BORROWERS
    }


def in_cells(c: Container, lines: dict[str, str]) -> dict[str, Any]:
    """An experiment with b-late's and b-clean's lines in the challenger's cell, b-other's
    in the champion's."""
    salt = salt_for([lines["b-late"], lines["b-clean"]], [lines["b-other"]], 5000)
    label = submitted_and_simulated(c, candidate())
    # The simulation read the candidate's attribute: b-late's and b-other's lines suspended.
    simulated = c.policies.simulation(ANALYST, label)
    assert (simulated["lines_total"], simulated["adverse_count"]) == (3, 2)
    return started(c, salt)


def test_a_challenger_decides_on_an_attribute_the_champion_does_not_read(
    lender: Container, agent: Actor
) -> None:
    lines = opened(lender, agent)
    in_cells(lender, lines)
    review = lender.decisions.review_line
    late, clean = review(lines["b-late"]), review(lines["b-clean"])
    assert (late.decision.policy, late.decision.decisive_rule) == (CHALLENGER, "arrears")
    assert late.decision.features["arrears_months"] == 6.0
    assert late.outcome == "awaiting_notice"  # announced when the experiment started
    assert clean.decision.policy == CHALLENGER and clean.decision.decisive_rule is None
    # The two differ in their arrears alone: 40 points (under 1 month) against 0 (from 3).
    assert clean.decision.score - late.decision.score == 40
    other = review(lines["b-other"]).decision  # the champion's cell: the champion reads none
    assert (other.policy, other.decisive_rule, other.action) == (CHAMPION, None, "keep")
    assert "arrears_months" not in other.features


def test_a_book_review_gives_the_challenger_the_attributes_it_reads(
    lender: Container, agent: Actor
) -> None:
    lines = opened(lender, agent)
    in_cells(lender, lines)
    assert lender.decisions.review_book() == {"keep:kept": 2, "suspend:awaiting_notice": 1}
    with lender.db.reading() as connection:
        stored = {
            row.line_id: (row.policy, row.action)
            for row in connection.execute(select(policy_experiment_decisions))
        }
    assert stored == {
        lines["b-late"]: (CHALLENGER, "suspend"),
        lines["b-clean"]: (CHALLENGER, "keep"),
        lines["b-other"]: (CHAMPION, "keep"),
    }


def test_a_shadow_decides_on_the_attributes_it_reads_on_every_trigger(
    lender: Container, agent: Actor
) -> None:
    lines = opened(lender, agent)
    label = str(lender.policies.submit(ANALYST, "submit", candidate()).document["policy"])
    lender.policies.start_shadow(ANALYST, "shadow", label, "watch the lender's arrears")
    assert lender.decisions.review_line(lines["b-late"]).decision.policy == CHAMPION
    lender.decisions.review_book()
    with lender.db.reading() as connection:
        rows = connection.execute(
            select(
                policy_shadow_decisions.c.line_id,
                policy_shadow_decisions.c.active_action,
                policy_shadow_decisions.c.shadow_action,
                policy_shadow_decisions.c.shadow_rule,
            ).order_by(policy_shadow_decisions.c.at)
        ).all()
    by_line: dict[str, list[tuple[str, str, str | None]]] = {}
    for line_id, active, shadow, rule in rows:
        by_line.setdefault(line_id, []).append((active, shadow, rule))
    # b-late's line: its own review and the book's; the others: the book's.
    assert by_line == {
        lines["b-late"]: [("keep", "suspend", "arrears")] * 2,
        lines["b-clean"]: [("keep", "keep", None)],
        lines["b-other"]: [("keep", "suspend", "arrears")],
    }
