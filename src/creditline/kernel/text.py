"""Checks for free text that reaches the store: bounded, and free of control characters
(PostgreSQL refuses NUL in text; no stored field has a use for the rest)."""

from __future__ import annotations

import re

from creditline.kernel.errors import InvalidInput

# Control characters (Unicode category Cc: C0, DEL and C1), and lone surrogates (Cs: no
# encoder can write them out again). One class, searched in C: every request's path and body
# strings pass here, and a per-character category lookup cost a hold tens of microseconds.
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Multiline text may hold line feeds and tabs.
_REFUSED_IN_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


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
    return (_REFUSED_IN_MULTILINE if multiline else _REFUSED).search(value) is not None
