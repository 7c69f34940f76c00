"""The policy governance tables' statements: versions, steps, simulations, pending changes.

Every table is append-only (triggers refuse UPDATE and DELETE): a version's state is its
latest step, a pending change's fate is its outcome row. Functions take a Core connection (a
command's `tx.connection`, or a read's).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from creditline.db.unit_of_work import Transaction
from creditline.decisions.lifecycle import (
    PolicyVersionReused,
    State,
    Step,
)
from creditline.decisions.policy import PolicyDocument, document_of
from creditline.decisions.tables import (
    policies,
    policy_steps,
    policy_versions,
)
from creditline.kernel.ids import new_id


@dataclass(frozen=True, slots=True)
class Version:
    """A stored version: its document, author and life so far."""

    policy_id: str
    version: str
    currency: str
    sha256: str
    document: dict[str, Any]
    submitted_by: str
    submitted_at: datetime
    steps: tuple[Step, ...]

    @property
    def label(self) -> str:
        """id@version."""
        return f"{self.policy_id}@{self.version}"

    @property
    def state(self) -> State:
        """The latest step's state."""
        return self.steps[-1].state

    def last(self, state: State) -> Step | None:
        """The latest step into `state`, if there is one."""
        return next((s for s in reversed(self.steps) if s.state is state), None)


def split(label: str) -> tuple[str, str]:
    """(id, version) of a label id@version (empty parts when it is not one)."""
    policy_id, _, version = label.partition("@")
    return policy_id, version


def insert_version(
    connection: Connection,
    policy: PolicyDocument,
    author: str,
    at: datetime,
    problems: list[str],
) -> State:
    """Store a submitted version as a draft with its lint `problems`, and as linted when there
    are none; its state."""
    label = (policy.id, policy.version)
    connection.execute(
        insert(policy_versions).values(
            id=policy.id,
            version=policy.version,
            currency=policy.currency,
            sha256=fingerprint(policy),
            document=json.dumps(document_of(policy), ensure_ascii=False, sort_keys=True),
            submitted_by=author,
            submitted_at=at,
        )
    )
    insert_step(connection, label, Step(State.DRAFT, author, at, None), {"problems": problems})
    if problems:
        return State.DRAFT
    insert_step(connection, label, Step(State.LINTED, author, at, None))
    return State.LINTED


def insert_step(
    connection: Connection,
    label: tuple[str, str],
    step: Step,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a step of a version's life."""
    connection.execute(
        insert(policy_steps).values(
            id=new_id(),
            policy_id=label[0],
            version=label[1],
            state=step.state.value,
            actor=step.actor,
            at=step.at,
            justification=step.justification,
            effective_at=step.effective_at,
            simulation_id=step.simulation_id,
            details=None if details is None else json.dumps(details, ensure_ascii=False),
        )
    )


def version(connection: Connection, label: tuple[str, str]) -> Version | None:
    """The version stored under `label`, with its steps."""
    row = (
        connection.execute(
            select(policy_versions).where(
                policy_versions.c.id == label[0], policy_versions.c.version == label[1]
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return Version(
        row["id"],
        row["version"],
        row["currency"],
        row["sha256"],
        json.loads(row["document"]),
        row["submitted_by"],
        row["submitted_at"],
        tuple(_step(s) for s in step_rows(connection, label)),
    )


def stored_document(connection: Connection, label: tuple[str, str]) -> dict[str, Any] | None:
    """The document stored under `label`: a version's, or one that has decided (None: none)."""
    found = version(connection, label)
    if found is not None:
        return found.document
    row = connection.execute(
        select(policies.c.document).where(policies.c.id == label[0], policies.c.version == label[1])
    ).first()
    return None if row is None else dict(json.loads(row[0]))


def step_rows(connection: Connection, label: tuple[str, str]) -> list[Any]:
    """A version's steps, oldest first, as rows."""
    query = (
        select(policy_steps)
        .where(policy_steps.c.policy_id == label[0], policy_steps.c.version == label[1])
        .order_by(policy_steps.c.id)
    )
    return list(connection.execute(query).mappings())


def _step(row: Any) -> Step:
    return Step(
        State(row["state"]),
        row["actor"],
        row["at"],
        row["justification"],
        row["effective_at"],
        row["simulation_id"],
    )


def latest_steps() -> Any:
    """Each version's latest step (a subquery)."""
    latest = (
        select(
            policy_steps.c.policy_id,
            policy_steps.c.version,
            func.max(policy_steps.c.id).label("step_id"),
        )
        .group_by(policy_steps.c.policy_id, policy_steps.c.version)
        .subquery()
    )
    return (
        select(policy_steps)
        .join(latest, policy_steps.c.id == latest.c.step_id)
        .subquery("latest_steps")
    )


def labels_in(
    connection: Connection, states: Iterable[State], currency: str | None = None
) -> list[tuple[str, str]]:
    """The versions whose state is one of `states` (in `currency`), oldest step first."""
    latest = latest_steps()
    query = (
        select(latest.c.policy_id, latest.c.version)
        .join(
            policy_versions,
            and_(
                policy_versions.c.id == latest.c.policy_id,
                policy_versions.c.version == latest.c.version,
            ),
        )
        .where(latest.c.state.in_([s.value for s in states]))
        .order_by(latest.c.id)
    )
    if currency is not None:
        query = query.where(policy_versions.c.currency == currency)
    return [(row[0], row[1]) for row in connection.execute(query)]


def summaries(connection: Connection) -> list[Any]:
    """Every version with its state, newest submission first."""
    latest = latest_steps()
    query = (
        select(
            policy_versions.c.id,
            policy_versions.c.version,
            policy_versions.c.currency,
            policy_versions.c.sha256,
            policy_versions.c.submitted_by,
            policy_versions.c.submitted_at,
            latest.c.state,
        )
        .join(
            latest,
            and_(
                policy_versions.c.id == latest.c.policy_id,
                policy_versions.c.version == latest.c.version,
            ),
        )
        .order_by(policy_versions.c.submitted_at.desc(), policy_versions.c.id)
    )
    return list(connection.execute(query).mappings())


def store_decided(tx: Transaction, policy: PolicyDocument, at: datetime) -> None:
    """Keep the document of a version about to decide in the registry of policies that have
    decided (once per label); refuse other content under a stored label."""
    digest = fingerprint(policy)
    dialect_insert = postgresql.insert if tx.dialect == "postgresql" else sqlite.insert
    connection = tx.connection
    connection.execute(
        dialect_insert(policies)
        .values(
            id=policy.id,
            version=policy.version,
            sha256=digest,
            document=json.dumps(document_of(policy), ensure_ascii=False),
            activated_at=at,
        )
        .on_conflict_do_nothing()
    )
    stored = connection.execute(
        select(policies.c.sha256).where(
            policies.c.id == policy.id, policies.c.version == policy.version
        )
    ).scalar_one()
    if stored != digest:
        raise PolicyVersionReused(
            f"policy {policy.label} is already in use with other content: "
            "give the changed policy a new version",
            policy=policy.label,
        )


def fingerprint(policy: PolicyDocument) -> str:
    """SHA-256 of the policy's canonical JSON: equal documents, equal fingerprints."""
    canonical = json.dumps(document_of(policy), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
