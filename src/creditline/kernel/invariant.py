"""Invariant checks that survive `python -O` (a bare `assert` does not)."""

from __future__ import annotations

from typing import NoReturn


class InvariantViolation(RuntimeError):
    """A broken invariant: a bug or corrupted state, never an expected rejection."""


def invariant(condition: bool, message: str) -> None:
    """Raise `InvariantViolation` with `message` unless `condition` holds."""
    if not condition:
        fail(message)


def fail(message: str) -> NoReturn:
    """Raise `InvariantViolation` unconditionally."""
    raise InvariantViolation(message)
