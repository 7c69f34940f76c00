"""Checks for free text that reaches the store: bounded, and free of control characters
(PostgreSQL refuses NUL in text; no stored field has a use for the rest)."""

from __future__ import annotations

import unicodedata

from creditline.kernel.errors import InvalidInput

_ALLOWED_IN_MULTILINE = frozenset("\n\t")
# Control characters, and lone surrogates (no encoder can write them out again).
_REFUSED = frozenset({"Cc", "Cs"})


def checked_text(value: object, field: str, length_max: int, *, multiline: bool = False) -> str:
    """`value` when it is a string of 1–`length_max` characters without control characters."""
    if not isinstance(value, str) or not 1 <= len(value) <= length_max:
        raise InvalidInput(f"{field} must be text of 1–{length_max} characters", field=field)
    allowed = _ALLOWED_IN_MULTILINE if multiline else frozenset()
    if any(unicodedata.category(ch) in _REFUSED and ch not in allowed for ch in value):
        raise InvalidInput(f"{field} contains control characters or lone surrogates", field=field)
    return value
