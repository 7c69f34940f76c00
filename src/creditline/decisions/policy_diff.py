"""What one policy document changes against another, as a list of paths with both values.

Lists whose items have an identity are compared by it, not by position: rules by `id`,
scorecard attributes by `feature`, grades by `grade`, income bands by `band` (rules keep their
ids across versions, so a rule's changed condition shows as that rule's change).
"""

from __future__ import annotations

from typing import Any

# The key that names each item of a list, by the list's name.
_IDENTITY = {"rules": "id", "attributes": "feature", "grades": "grade", "income_bands": "band"}
CHANGES_LISTED_MAX = 1_000


def document_diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Every value that differs, added or went away, by path (`rules.multi-lender.when`)."""
    changes: list[dict[str, Any]] = []
    _walk("", before, after, changes)
    return changes[:CHANGES_LISTED_MAX]


def _walk(path: str, before: Any, after: Any, changes: list[dict[str, Any]]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            _walk(_join(path, key), before.get(key), after.get(key), changes)
        return
    name = path.rsplit(".", 1)[-1]
    identity = _IDENTITY.get(name)
    if identity and isinstance(before, list) and isinstance(after, list):
        _walk(path, _keyed(before, identity), _keyed(after, identity), changes)
        return
    if before != after:
        changes.append({"path": path, "before": before, "after": after})


def _keyed(items: list[Any], identity: str) -> dict[str, Any]:
    return {
        str(item.get(identity)) if isinstance(item, dict) else str(n): item
        for n, item in enumerate(items)
    }


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)
