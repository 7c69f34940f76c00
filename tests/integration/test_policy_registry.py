"""Every policy that decides is stored once under its id@version and never changes: a changed
document under a used version is refused, and staff can read the exact policy behind any
decision."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import headers
from fastapi.testclient import TestClient
from sqlalchemy import text

from creditline.bootstrap import Container, build
from creditline.config import Settings, shipped_policy_file
from creditline.decisions.policy import document_of, load_policy
from creditline.decisions.registry import PolicyVersionReused, fingerprint
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock

EXAMPLE = shipped_policy_file()
PRODUCTS = Path(__file__).parents[1] / "fixtures" / "products.toml"


def container_with(database_url: str, clock: FixedClock, policy_file: Path) -> Container:
    settings = Settings(database_url=database_url, products_file=PRODUCTS, policy_file=policy_file)
    return build(settings, clock, migrate=False)


def test_the_policy_is_stored_when_it_first_decides_and_staff_read_it_back(
    container: Container, client: TestClient, agent: Actor, borrower: Actor
) -> None:
    staff = headers(container, Role.ANALYST, "analyst-1")
    assert client.get("/v1/policies", headers=staff).json() == {"policies": []}
    line = container.ledger.open_line(agent, "o", borrower.subject, "CNY", "20000.00").document
    review = client.post(
        f"/v1/lines/{line['id']}/reviews", headers=headers(container, Role.BORROWER, "b-1")
    )
    assert review.status_code == 404  # another borrower's line: refused before any decision
    container.decisions.review_line(line["id"])

    policy = load_policy(EXAMPLE)
    [listed] = client.get("/v1/policies", headers=staff).json()["policies"]
    assert (listed["policy"], listed["sha256"]) == (policy.label, fingerprint(policy))
    stored = client.get(f"/v1/policies/{policy.label}", headers=staff)
    assert stored.status_code == 200
    assert stored.json()["document"] == document_of(policy)

    mine = headers(container, Role.BORROWER, borrower.subject)
    refused = client.get(f"/v1/policies/{policy.label}", headers=mine)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    missing = client.get("/v1/policies/cn-standard@1999.1", headers=staff)
    assert (missing.status_code, missing.json()["code"]) == (404, "policy_not_found")
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_the_file_seeds_version_one_and_a_changed_file_decides_nothing(
    container: Container, database_url: str, clock: FixedClock, tmp_path: Path, agent: Actor
) -> None:
    line = container.ledger.open_line(agent, "o", "borrower-1", "CNY", "20000.00").document
    container.decisions.review_line(line["id"])  # cn-standard@2026.11.1 seeds, and decides

    changed = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    changed["rules"][3]["when"] = "drawdowns_7d >= 3"  # stricter, under the same version
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
    analyst = Actor("analyst-1", Role.ANALYST)
    other = container_with(database_url, clock, path)
    try:
        # The stored active version decides: the file only seeds an empty store.
        assert other.decisions.engine.policy.label == "cn-standard@2026.11.1"
        assert other.decisions.engine.policy == load_policy(EXAMPLE)
        with pytest.raises(PolicyVersionReused, match="give it a new version"):
            other.policies.submit(analyst, "s1", changed)

        changed["version"] = "2026.11.2"
        path.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
        renewed = container_with(database_url, clock, path)
        assert renewed.decisions.engine.policy.label == "cn-standard@2026.11.1"
        labels = [p["policy"] for p in renewed.policies.summaries(agent)["policies"]]
        assert labels == ["cn-standard@2026.11.1"]
        renewed.close()
    finally:
        other.close()


def test_a_stored_policy_cannot_be_rewritten_or_deleted(container: Container) -> None:
    container.policies.activate(load_policy(EXAMPLE))
    for statement in ("UPDATE policies SET document = '{}'", "DELETE FROM policies"):
        with pytest.raises(Exception, match="immutable"), container.db.engine.begin() as conn:
            conn.execute(text(statement))
    assert container.policies.load("cn-standard@2026.11.1") == load_policy(EXAMPLE)
