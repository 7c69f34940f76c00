"""The active policy version: the only one that decides.

The store says which version of the lender's currency is active (its latest step is
`active`). When the store has none, the document in `CREDITLINE_POLICY_FILE` seeds version one
(stored, linted and made active by creditline itself, in one transaction). After that the file
seeds nothing: a changed document reaches borrowers only through the lifecycle. The engine is
built once per active version; the store is asked again at most every
`ACTIVE_CHECK_SECONDS`, so another process's activation is seen within that, and this
process's at once (`refresh`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions import policy_store
from creditline.decisions.engine import Engine
from creditline.decisions.lifecycle import State, Step
from creditline.decisions.policy import PolicyDocument, parse_policy
from creditline.kernel.actors import SYSTEM
from creditline.kernel.clock import Clock
from creditline.kernel.invariant import fail
from creditline.ledger.ports import RegulatoryCaps
from creditline.loans.products import Catalogue

log = logging.getLogger(__name__)
ACTIVE_CHECK_SECONDS = 1.0
SEEDED = "seeded from CREDITLINE_POLICY_FILE: the store had no active version"
LIFECYCLE_LOCK = "policy-lifecycle"  # steps that change which version decides run one at a time


class ActivePolicy:
    """The active version's document and engine, seeded from the policy file when the store
    has none."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        catalogue: Catalogue,
        seed: Callable[[], PolicyDocument],
        caps: Callable[[str], RegulatoryCaps | None],
    ) -> None:
        self._db = db
        self._clock = clock
        self._catalogue = catalogue
        self._seed = seed  # the policy file, read on first use
        self._caps = caps
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._checked = -math.inf

    @property
    def currency(self) -> str:
        """The currency whose lines the active version decides (the policy file's)."""
        return self._seed().currency

    def caps(self, currency: str) -> RegulatoryCaps | None:
        """The profile's caps an engine for `currency` keeps under."""
        return self._caps(currency)

    def engine(self) -> Engine:
        """The active version's engine; the policy file seeds version one when there is none
        (a write: call it before a transaction that needs it, never inside one)."""
        engine = self._engine
        if engine is not None and time.monotonic() - self._checked < ACTIVE_CHECK_SECONDS:
            return engine
        with self._lock:
            label = self._active_label() or self._seeded()
            if self._engine is None or self._engine.policy.label != label:
                policy = self.load(label)
                self._engine = Engine(policy, self._caps(policy.currency))
            self._checked = time.monotonic()
            return self._engine

    def document(self) -> PolicyDocument:
        """The active version's document, without writing: the file's when nothing is stored
        yet (safe inside another command's transaction)."""
        engine = self._engine
        if engine is not None and time.monotonic() - self._checked < ACTIVE_CHECK_SECONDS:
            return engine.policy
        label = self._active_label()
        if label is None:
            return self._seed()
        if engine is not None and engine.policy.label == label:
            return engine.policy
        return self.load(label)

    def refresh(self) -> None:
        """Ask the store again on next use (this process changed which version is active)."""
        self._checked = -math.inf

    def load(self, label: str) -> PolicyDocument:
        """A stored version's document, validated again."""
        with self._db.reading() as connection:
            found = policy_store.version(connection, policy_store.split(label))
        if found is None:
            fail(f"policy {label} is active but not stored")
        return parse_policy(found.document, self._catalogue)

    def _active_label(self) -> str | None:
        with self._db.reading() as connection:
            active = policy_store.labels_in(connection, [State.ACTIVE], self.currency)
        return None if not active else "@".join(active[-1])

    def _seeded(self) -> str:
        """Store the policy file as the active version (unless another process just did)."""
        policy = self._seed()
        now = self._clock.now()

        def work(tx: Transaction) -> str:
            tx.lock_key(LIFECYCLE_LOCK)
            connection = tx.connection
            active = policy_store.labels_in(connection, [State.ACTIVE], policy.currency)
            if active:
                return "@".join(active[-1])
            label = (policy.id, policy.version)
            # The registry of policies that have decided refuses other content under a label.
            policy_store.store_decided(tx, policy, now)
            if policy_store.version(connection, label) is None:
                policy_store.insert_version(connection, policy, SYSTEM.scope, now, [])
            policy_store.insert_step(
                connection, label, Step(State.ACTIVE, SYSTEM.scope, now, SEEDED)
            )
            log.info("policy %s: %s", policy.label, SEEDED)
            return policy.label

        return self._db.run(work, core=True)
