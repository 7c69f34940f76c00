"""The one command runner: every mutating use case, over HTTP or from the CLI, runs through it.

A command carries an idempotency key (scoped to the actor) and a request. Inside the command's
one transaction the key is looked up: a replay of the same request returns the stored
response, the same key with another request is `idempotency_key_reused`. (On PostgreSQL the
lookup goes with the work's first read, one wait for both, and is judged when the work is done:
a replay then rolls the work back, as a retried attempt is rolled back; docs/decisions/0032.)
Otherwise the use case runs, and its response is stored under the key in the same
transaction — so its ledger effect, decision record, review row, outbox message and stored
response commit together or not at all. A rejected command stores nothing: it changed
nothing, and a retry is judged afresh (docs/decisions/0002).

Two requests racing with one key: the loser either hits the key's primary key when it commits
(its transaction rolls back and runs again, and then replays the winner) or is refused by the
winner's effect — then it looks the key up again and answers with the winner's response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    bindparam,
    insert,
    select,
)

from creditline.db.metadata import UtcDateTime, metadata
from creditline.db.portable import one_of
from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.actors import Actor
from creditline.kernel.clock import Clock
from creditline.kernel.errors import DomainError, IdempotencyKeyReused, InvalidIdempotencyKey

T = TypeVar("T")

IDEMPOTENCY_KEY_LENGTH_MAX = 255

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(128), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("response", Text, nullable=False),  # JSON, returned as-is on a replay
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("scope", "key"),
)


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A command's response document and `text`, its JSON as stored with the key (what every
    request with that key is answered); `replayed` when an earlier request stored it."""

    document: dict[str, Any]
    text: str
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Encoded:
    """A response document with its JSON text (`json.dumps(document)`), which the use case
    built from parts encoded earlier (a hold's remembered quote): stored as that text."""

    document: dict[str, Any]
    text: str


@dataclass(frozen=True, slots=True)
class StoredKeys:
    """Keys looked up together, in the transaction of the commands that use them (a chunk of a
    book review): which were looked up, and the request hash and response of those stored."""

    looked_up: frozenset[str]
    found: dict[str, tuple[str, str]]


class _Replay(Exception):
    """Rolls an attempt back and answers with an earlier response to the same key."""

    def __init__(self, result: CommandResult) -> None:
        super().__init__("replay")
        self.result = result


def checked_key(key: object) -> str:
    """`key` when it is 1–255 printable ASCII characters (what HTTP headers carry safely)."""
    if (
        not isinstance(key, str)
        or not 1 <= len(key) <= IDEMPOTENCY_KEY_LENGTH_MAX
        or not (key.isascii() and key.isprintable())  # ASCII's printable: " " to "~"
    ):
        raise InvalidIdempotencyKey(
            f"the idempotency key must be 1–{IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII "
            "characters",
            length_max=IDEMPOTENCY_KEY_LENGTH_MAX,
        )
    return key


def fingerprint(request: Mapping[str, Any] | str) -> str:
    """The fingerprint stored with a key: SHA-256 of the canonical JSON of the request (given
    as that text already, `kernel.canonical`, or encoded here)."""
    canonical = request if isinstance(request, str) else json.dumps(request, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_insert(prefix: str = "") -> Any:
    """The INSERT that stores a key with its response, its bound names after `prefix` (a part
    of a store's one-statement shape, `Database.one_statement`)."""
    values: dict[str, Any] = {c.name: bindparam(prefix + c.name) for c in idempotency_keys.c}
    return insert(idempotency_keys).values(values)


class Commands:
    """Runs use cases as idempotent commands, each in one transaction of `db`."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._find = db.prepare(
            select(idempotency_keys.c.request_hash, idempotency_keys.c.response).where(
                and_(
                    idempotency_keys.c.scope == bindparam("scope"),
                    idempotency_keys.c.key == bindparam("key"),
                )
            )
        )
        self._find_many = db.prepare(
            select(
                idempotency_keys.c.key,
                idempotency_keys.c.request_hash,
                idempotency_keys.c.response,
            ).where(
                idempotency_keys.c.scope == bindparam("scope"),
                one_of(idempotency_keys.c.key, bindparam("keys")),
            )
        )
        self._save = db.prepare(key_insert())

    def run(
        self,
        actor: Actor,
        key: str,
        request: Mapping[str, Any],
        work: Callable[[Transaction], T],
        view: Callable[[T], dict[str, Any] | Encoded],
        *,
        core: bool = False,
    ) -> CommandResult:
        """Run `work` once per (actor, key) in its own transaction: its result, shaped by
        `view`, is the response stored with the key; a replay returns the stored response.
        `core` gives the transaction a SQLAlchemy connection too (`Database.run`)."""
        checked_key(key)
        attempt = self._attempt(actor, key, fingerprint(request), work, view, ahead=True)
        try:
            return self._db.run(attempt, core=core)
        except _Replay as replay:
            return replay.result

    def run_in(
        self,
        tx: Transaction,
        actor: Actor,
        key: str,
        request: Mapping[str, Any] | str,
        work: Callable[[Transaction], T],
        view: Callable[[T], dict[str, Any] | Encoded],
        known: StoredKeys | None = None,
    ) -> CommandResult:
        """Run a command inside the caller's transaction `tx` (a review's change inside the
        borrower's request for it): its key commits or rolls back with the caller's work. A
        refused command writes nothing before it is refused, so the caller may go on.
        `request` may be its canonical JSON text already (`fingerprint`).
        `known`: keys `stored_keys` looked up earlier in `tx`; a key among them is not looked
        up again."""
        checked_key(key)
        try:
            return self._attempt(actor, key, fingerprint(request), work, view, known)(tx)
        except _Replay as replay:
            return replay.result

    def stored_keys(self, tx: Transaction, actor: Actor, keys: list[str]) -> StoredKeys:
        """Look `actor`'s `keys` up in `tx`, in one statement (for `run_in`'s `known`)."""
        found = {
            row[0]: (row[1], row[2])
            for row in tx.all(self._find_many, {"scope": actor.scope, "keys": tx.values(keys)})
        }
        return StoredKeys(frozenset(keys), found)

    def _attempt(
        self,
        actor: Actor,
        key: str,
        request_hash: str,
        work: Callable[[Transaction], T],
        view: Callable[[T], dict[str, Any] | Encoded],
        known: StoredKeys | None = None,
        *,
        ahead: bool = False,
    ) -> Callable[[Transaction], CommandResult]:
        """One attempt of a command in `tx`. With `ahead` (the command owns `tx`), in a
        pipeline the key's lookup goes with the work's first read instead of waiting alone,
        and is judged once the work is done: a replay or a reused key then rolls the work back,
        as a retried attempt is rolled back. Elsewhere the key is judged before the work."""
        scope = actor.scope

        def stored(tx: Transaction, ask: bool = True) -> CommandResult | None:
            row: tuple[Any, ...] | None
            if not ask and known is not None and key in known.looked_up:
                row = known.found.get(key)
            else:
                row = tx.one(self._find, {"scope": scope, "key": key})
            return judged(row)

        def judged(row: tuple[Any, ...] | None) -> CommandResult | None:
            if row is None:
                return None
            if row[0] != request_hash:
                raise IdempotencyKeyReused(
                    "this idempotency key was used for a different request", key=key
                )
            return CommandResult(json.loads(row[1]), row[1], replayed=True)

        def attempt(tx: Transaction) -> CommandResult:
            looked_up = None
            if ahead and tx.pipelined:
                looked_up = tx.read_ahead(self._find, {"scope": scope, "key": key})
            else:
                replay = stored(tx, ask=False)
                if replay is not None:
                    return replay
            try:
                answer = view(work(tx))
            except DomainError:
                # A request with the same key may have won while this one waited for a lock;
                # its effect is why this one was refused. Answer with the winner's response
                # and roll back whatever this attempt did.
                replay = stored(tx)
                if replay is not None:
                    raise _Replay(replay) from None
                raise
            if looked_up is not None:
                rows = looked_up()
                replay = judged(rows[0] if rows else None)
                if replay is not None:
                    raise _Replay(replay)
            if isinstance(answer, Encoded):
                document, text = answer.document, answer.text
            else:
                document, text = answer, json.dumps(answer)
            tx.execute(
                self._save,
                {
                    "scope": scope,
                    "key": key,
                    "request_hash": request_hash,
                    "response": text,
                    "created_at": tx.time(self._clock.now()),
                },
            )
            return CommandResult(document, text)

        return attempt
