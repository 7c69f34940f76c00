"""Policies as they were used: each id@version stored once, immutable, when it first decides.

A decision names its policy by label (id@version); the registry keeps the exact document behind
each label, so staff can read what decided any line at any time. A document whose label is
already stored with other content is refused: a changed policy needs a new version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.policy import PolicyDocument, document_of, parse_policy
from creditline.decisions.tables import policies
from creditline.kernel.actors import STAFF_ROLES, Actor
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Conflict, Forbidden, NotFound
from creditline.kernel.invariant import fail, invariant
from creditline.loans.products import Catalogue


class PolicyVersionReused(Conflict):
    """A label already stored with other content."""

    code = "policy_version_reused"


class PolicyNotFound(NotFound):
    """No policy is stored under the label."""

    code = "policy_not_found"


def fingerprint(policy: PolicyDocument) -> str:
    """SHA-256 of the policy's canonical JSON: equal documents, equal fingerprints."""
    canonical = json.dumps(document_of(policy), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class PolicyRegistry:
    """The policies that have decided, each label stored once with its exact document."""

    def __init__(self, db: Database, clock: Clock, catalogue: Catalogue | None = None) -> None:
        self._db = db
        self._clock = clock
        self._catalogue = catalogue  # whose profiles stored policies are linted under again
        insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        self._insert = db.prepare(insert(policies).on_conflict_do_nothing())

    def activate(self, policy: PolicyDocument) -> PolicyDocument:
        """Store the policy under its label unless it is there; refuse other content under it."""
        digest = fingerprint(policy)

        def work(tx: Transaction) -> None:
            tx.execute(
                self._insert,
                {
                    "id": policy.id,
                    "version": policy.version,
                    "sha256": digest,
                    "document": json.dumps(document_of(policy), ensure_ascii=False),
                    "activated_at": tx.time(self._clock.now()),
                },
            )

        self._db.run(work)
        stored = self._row(policy.id, policy.version)
        invariant(stored is not None, f"policy {policy.label}: inserted, or there already")
        if stored["sha256"] != digest:
            raise PolicyVersionReused(
                f"policy {policy.label} is already in use with other content: "
                "give the changed policy a new version",
                policy=policy.label,
            )
        return policy

    def summaries(self, actor: Actor) -> dict[str, Any]:
        """Every policy that has decided, newest first (staff)."""
        _staff_only(actor)
        with self._db.reading() as connection:
            rows = connection.execute(
                select(policies).order_by(policies.c.activated_at.desc())
            ).mappings()
            return {"policies": [_summary(row) for row in rows]}

    def get(self, actor: Actor, label: str) -> dict[str, Any]:
        """The stored document behind a label id@version (staff)."""
        _staff_only(actor)
        policy_id, _, version = label.partition("@")
        row = self._row(policy_id, version) if version else None
        if row is None:
            raise PolicyNotFound("no such policy", policy=label)
        return {**_summary(row), "document": json.loads(row["document"])}

    def load(self, label: str) -> PolicyDocument:
        """The stored policy behind a label, validated again."""
        policy_id, _, version = label.partition("@")
        row = self._row(policy_id, version)
        if row is None:
            raise PolicyNotFound("no such policy", policy=label)
        return parse_policy(json.loads(row["document"]), self._catalogue)

    def _row(self, policy_id: str, version: str) -> Any:
        with self._db.reading() as connection:
            return (
                connection.execute(
                    select(policies).where(
                        policies.c.id == policy_id, policies.c.version == version
                    )
                )
                .mappings()
                .first()
            )


def _summary(row: Any) -> dict[str, Any]:
    activated = Transaction.read_time(row["activated_at"])
    if activated is None:
        fail(f"policy {row['id']}@{row['version']}: stored without its activation time")
    return {
        "policy": f"{row['id']}@{row['version']}",
        "sha256": row["sha256"],
        "activated_at": activated.isoformat(),
    }


def _staff_only(actor: Actor) -> None:
    if actor.role not in STAFF_ROLES:
        raise Forbidden("policies are read by staff")
