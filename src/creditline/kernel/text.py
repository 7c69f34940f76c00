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
    if has_refused_characters(value, multiline=multiline):
        raise InvalidInput(f"{field} contains control characters or lone surrogates", field=field)
    return value


def has_refused_characters(value: str, *, multiline: bool = False) -> bool:
    """Whether `value` holds a character no stored text may hold: a control character (NUL
    among them; `multiline` text may have line feeds and tabs) or a lone surrogate."""
    allowed = _ALLOWED_IN_MULTILINE if multiline else frozenset()
    return any(unicodedata.category(ch) in _REFUSED and ch not in allowed for ch in value)
