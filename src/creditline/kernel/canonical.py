"""Canonical JSON (`json.dumps(document, sort_keys=True)`) built from members encoded once.

A review's change hashes its evidence into the idempotency key's fingerprint and stores it
with the decision record, which adds members (the caps applied, the report on file): keeping
the object as its members' texts encodes each member once for both, and gives the very text
`json.dumps(..., sort_keys=True)` would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

# `json.dumps(value, sort_keys=True)`, with one encoder for every call (`json.dumps` builds a
# new one a call when given options).
_encode = json.JSONEncoder(sort_keys=True).encode


def canonical_text(members: Mapping[str, str]) -> str:
    """The canonical JSON of the object whose members' values are `members`, each already
    canonical JSON text: what `json.dumps(document, sort_keys=True)` gives for it."""
    quote = encode_basestring_ascii  # how `json.dumps` writes a name
    return "{" + ", ".join(f"{quote(name)}: {members[name]}" for name in sorted(members)) + "}"


@dataclass(frozen=True, slots=True)
class CanonicalObject:
    """A JSON object kept as its members' canonical JSON texts, by name."""

    members: Mapping[str, str]

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> CanonicalObject:
        """`document` with each member encoded once."""
        return cls({name: _encode(value) for name, value in document.items()})

    def with_member(self, name: str, value: Any) -> CanonicalObject:
        """This object with `name` set to `value` (replacing a member of that name)."""
        return CanonicalObject({**self.members, name: _encode(value)})

    def with_object(self, name: str, member: CanonicalObject) -> CanonicalObject:
        """This object with `name` set to the object `member`, not encoded again."""
        return CanonicalObject({**self.members, name: member.text()})

    def text(self) -> str:
        """The object's canonical JSON."""
        return canonical_text(self.members)


def as_canonical(document: Mapping[str, Any] | CanonicalObject | None) -> CanonicalObject:
    """`document` as a `CanonicalObject` (None: the empty object); one given is kept as is."""
    if isinstance(document, CanonicalObject):
        return document
    return CanonicalObject.of(document or {})
