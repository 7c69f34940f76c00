"""The lender's own application fields, given with the application, on both stores: typed by
the registry, decided on at once (each limit worked by hand from the scorecard points below),
stored as a load stores them, explained in the borrower's words; bad fields are refused with
their codes and change nothing.

The policy is the shipped one reading two application fields of the test registry:
`term_months`, scored (under 12: 40 points, 12 to 24: 15, from 24: 0; unknown: 5), and
`channel`, read by a rule that declines a term of 36 months or more come through a broker.
Without history or a bureau report, employed, the shipped card gives
500 + 20 + 30 + 40 + 0 + 15 + 15 + 30 = 650 points before the term's; grades start at
680 (B) and 640 (C); income 12,000.00 is the mid band: B x mid = 30,000.00, C x mid =
20,000.00.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLE_POLICY, headers, suite_settings
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from creditline.api.app import create_app
from creditline.bootstrap import Container, build
from creditline.db.metadata import metadata
from creditline.decisions.applications import Application
from creditline.decisions.attributes import load_registry
from creditline.decisions.tables import lender_attribute_values
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import InvalidInput
from creditline.ledger.tables import decisions

REGISTRY = Path(__file__).parents[1] / "fixtures" / "lender_attributes.toml"
TERM = {
    "feature": "term_months",
    "reason": "loan_terms_risk",
    "missing_points": 5,
    "bins": [
        {"upper": 12, "points": 40},
        {"lower": 12, "upper": 24, "points": 15},
        {"lower": 24, "points": 0},
    ],
}
BROKER_LONG_TERM = {
    "id": "broker-long-term",
    "when": "channel = 'broker' AND term_months >= 36",
    "action": "freeze",
    "freeze_days": 30,
    "reason": "loan_terms_risk",
    "priority": 99,
}


@pytest.fixture
def lender(database_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Container]:
    registry = load_registry(REGISTRY)
    document = yaml.safe_load(EXAMPLE_POLICY.read_text(encoding="utf-8"))
    document["attributes"] = [
        registry[name].model_dump(mode="json") for name in ("channel", "term_months")
    ]
    document["scorecard"]["attributes"].append(copy.deepcopy(TERM))
    document["rules"].append(BROKER_LONG_TERM)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(document), encoding="utf-8")
    settings = dataclasses.replace(
        suite_settings(database_url), attributes_file=REGISTRY, policy_file=policy_file
    )
    built = build(settings, clock, migrate=False)
    yield built
    built.close()


def application(borrower: str, attributes: dict[str, object] | None) -> Application:
    return Application(
        borrower_id=borrower,
        currency="CNY",
        income_monthly="12000.00",
        income_evidence=True,
        income_evidence_expires_on=dt.date(2027, 6, 30),
        birth_date=dt.date(1990, 5, 1),
        employment="employed",
        attributes=attributes,
    )


def apply(c: Container, borrower: str, attributes: dict[str, object] | None) -> dict[str, Any]:
    actor = Actor(borrower, Role.BORROWER)
    return dict(
        c.underwriting.apply(actor, f"apply-{borrower}", application(borrower, attributes)).document
    )


def grant_evidence(c: Container, line_id: str) -> dict[str, Any]:
    with c.db.reading() as connection:
        [evidence] = connection.execute(
            select(decisions.c.evidence).where(decisions.c.line_id == line_id)
        ).scalars()
    return dict(json.loads(evidence))


def row_counts(c: Container) -> dict[str, int]:
    with c.db.reading() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


def test_an_application_is_decided_on_its_fields_at_once_and_keeps_them(
    lender: Container, clock: FixedClock
) -> None:
    short = apply(lender, "b-short", {"channel": "online", "term_months": 6})
    # 650 + 40 (under 12 months) = 690: grade B, mid band: 30,000.00.
    assert (short["outcome"], short["limit"]) == ("approved", "30000.00")
    evidence = grant_evidence(lender, short["line_id"])
    assert (evidence["score"], evidence["grade"]) == (690, "B")
    assert (evidence["features"]["channel"], evidence["features"]["term_months"]) == ("online", 6.0)
    # 650 + 0 (from 24 months) = 650: grade C: 20,000.00.
    long = apply(lender, "b-long", {"channel": "branch", "term_months": 30})
    assert (long["outcome"], long["limit"]) == ("approved", "20000.00")
    # Without the field the term is unknown: 650 + 5 = 655, still C.
    unsaid = apply(lender, "b-unsaid", None)
    assert (unsaid["outcome"], unsaid["limit"]) == ("approved", "20000.00")
    assert grant_evidence(lender, unsaid["line_id"])["score"] == 655
    # The rule reads the channel the application gave: declined for the terms asked.
    broker = apply(lender, "b-broker", {"channel": "broker", "term_months": 36})
    assert (broker["outcome"], broker["reason_codes"]) == ("declined", ["loan_terms_risk"])

    # Stored as a load stores them, as of the application; a later review reads them.
    with lender.db.reading() as connection:
        assert lender.attributes.values(connection, ["b-short", "b-broker", "b-unsaid"]) == {
            "b-short": {"channel": "online", "term_months": 6.0},
            "b-broker": {"channel": "broker", "term_months": 36.0},
        }
        stored_at = (
            connection.execute(
                select(lender_attribute_values.c.loaded_at).where(
                    lender_attribute_values.c.borrower_id == "b-short"
                )
            )
            .scalars()
            .all()
        )
    assert {at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at for at in stored_at} == {
        clock.now()
    }
    reviewed = lender.decisions.review_line(short["line_id"]).decision
    assert reviewed.features["term_months"] == 6.0 and reviewed.features["channel"] == "online"

    explained = lender.explainer.explain(Actor("b-short", Role.BORROWER), short["line_id"], "en")
    [told] = [group for group in explained["data_used"] if group["source"] == "application"]
    items = {item["feature"]: (item["label"], item["value"]) for item in told["items"]}
    assert items["channel"] == ("Where you applied", "online")
    assert items["term_months"] == ("The term you asked for, in months", "6")


def test_the_same_fields_in_another_order_replay_the_application(lender: Container) -> None:
    actor = Actor("b-1", Role.BORROWER)
    first = lender.underwriting.apply(
        actor, "k", application("b-1", {"term_months": 6, "channel": "online"})
    )
    again = lender.underwriting.apply(
        actor, "k", application("b-1", {"channel": "online", "term_months": 6.0})
    )
    assert (again.replayed, again.document) == (True, first.document)


BAD_FIELDS = [
    ({"colour": "red"}, "attribute_unknown"),
    ({"arrears_months": 1}, "attribute_not_from_application"),  # the lender's own, loaded
    ({"term_months": "6"}, "attribute_value_invalid"),
    ({"term_months": True}, "attribute_value_invalid"),
    ({"term_months": float("inf")}, "attribute_value_invalid"),
    ({"term_months": 10**400}, "attribute_value_invalid"),
    ({"channel": "post"}, "attribute_value_invalid"),
    ({"channel": 3}, "attribute_value_invalid"),
    ({"channel": "online", "colour": "red"}, "attribute_unknown"),
]


@pytest.mark.parametrize(("fields", "code"), BAD_FIELDS)
def test_bad_fields_are_refused_with_their_code_and_change_nothing(
    lender: Container, fields: dict[str, object], code: str
) -> None:
    before = row_counts(lender)
    with pytest.raises(InvalidInput) as refused:
        apply(lender, "b-1", fields)
    assert refused.value.code == code
    assert row_counts(lender) == before


def test_the_api_takes_the_fields_and_refuses_bad_ones_as_problems(lender: Container) -> None:
    body: dict[str, Any] = {
        "borrower_id": "b-api",
        "currency": "CNY",
        "income_monthly": "12000.00",
        "income_evidence": True,
        "birth_date": "1990-05-01",
        "employment": "employed",
    }
    with TestClient(create_app(lender), raise_server_exceptions=False) as client:
        before = row_counts(lender)
        for fields, code in (
            ({"arrears_months": 2}, "attribute_not_from_application"),
            ({"term_months": "six"}, "attribute_value_invalid"),
            ({"nope": 1}, "attribute_unknown"),
        ):
            answer = client.post(
                "/v1/applications",
                json={**body, "attributes": fields},
                headers=headers(lender, Role.BORROWER, "b-api"),
            )
            assert answer.status_code == 422, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["code"] == code
        assert row_counts(lender) == before
        answer = client.post(
            "/v1/applications",
            json={**body, "attributes": {"term_months": 6, "channel": "online"}},
            headers=headers(lender, Role.BORROWER, "b-api"),
        )
    assert answer.status_code == 201, answer.text
    assert (answer.json()["outcome"], answer.json()["limit"]) == ("approved", "30000.00")
