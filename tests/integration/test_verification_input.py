"""What re-verification accepts: evidence of the kind's own fields, short text, at most 16 KB;
the development verifier only in development."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from conftest import TEST_CONTACTS, headers
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from test_verification import income, suspended_line

from creditline.bootstrap import Container, build
from creditline.config import load_settings
from creditline.db.metadata import metadata
from creditline.decisions.verification import EVIDENCE_BYTES_MAX, InvalidEvidence
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock


def row_counts(c: Container) -> dict[str, int]:
    with c.db.reading() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"salary_note": "paid in cash"}, "has no field salary_note"),
        ({"income_monthly": 15000}, "evidence.income_monthly"),
        ({"document_id": "x" * 129}, "evidence.document_id"),
        ({"document_id": "payslip\x1b[2J"}, "control characters"),
    ],
)
def test_evidence_that_is_not_the_kinds_is_refused_and_changes_nothing(
    container: Container,
    borrower: Actor,
    clock: FixedClock,
    changes: dict[str, Any],
    says: str,
) -> None:
    suspended_line(container, borrower, clock)
    before = row_counts(container)
    with pytest.raises(InvalidEvidence, match=says) as refused:
        container.verifications.submit(borrower, "v", "income", income(clock, **changes))
    assert refused.value.code == "invalid_evidence"
    assert row_counts(container) == before


def test_evidence_over_16_kb_is_refused_over_http(
    container: Container, client: TestClient, borrower: Actor, clock: FixedClock
) -> None:
    suspended_line(container, borrower, clock)
    # Eight fields of 2,100 characters: each short enough alone, 16.8 KB together.
    padding = {f"document_{n}": "x" * 2_100 for n in range(8)}
    evidence = income(clock) | padding
    before = row_counts(container)
    answer = client.post(
        "/v1/verifications",
        json={"kind": "income", "evidence": evidence},
        headers={**headers(container, Role.BORROWER, borrower.subject), "Idempotency-Key": "v"},
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert (problem["code"], problem["details"]["bytes_max"]) == (
        "invalid_evidence",
        EVIDENCE_BYTES_MAX,
    )
    assert row_counts(container) == before


def test_the_development_verifier_runs_only_in_development(container: Container) -> None:
    production = {
        "CREDITLINE_ENV": "production",
        "CREDITLINE_JWT_SIGNING_KEY": "k" * 32,
        "CREDITLINE_CONTACTS_FILE": str(TEST_CONTACTS),
    }
    with pytest.raises(ValueError, match="CREDITLINE_VERIFIER"):
        load_settings(production)
    # Named another way, it is still refused outside development.
    renamed = load_settings(
        production
        | {
            "CREDITLINE_DATABASE_URL": container.settings.database_url,
            "CREDITLINE_VERIFIER": "creditline.decisions.verification:DevelopmentVerifier",
        }
    )
    with pytest.raises(ValueError, match="development verifier"):
        build(renamed, migrate=False)
    # In development a configured factory is used.
    configured = dataclasses.replace(
        container.settings, verifier="creditline.decisions.verification:DevelopmentVerifier"
    )
    built = build(configured, migrate=False)
    try:
        assert type(built.verifications._verifier).__name__ == "DevelopmentVerifier"
    finally:
        built.close()


def test_a_borrower_cannot_send_evidence_for_someone_else(
    container: Container, borrower: Actor, clock: FixedClock
) -> None:
    suspended_line(container, borrower, clock)
    stranger = Actor("someone-else", Role.BORROWER)
    with pytest.raises(Exception, match="no line to verify"):
        container.verifications.submit(stranger, "v", "income", income(clock))
