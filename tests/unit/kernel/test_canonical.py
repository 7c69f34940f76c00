"""Canonical JSON built from members encoded once is the text `json.dumps(sort_keys=True)`
gives: the idempotency keys' fingerprints and the decisions' stored evidence depend on it."""

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from creditline.kernel.canonical import CanonicalObject, as_canonical

# JSON values as the evidence holds them: nested objects and lists of scalars and text.
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
DOCUMENTS = st.dictionaries(st.text(), VALUES, max_size=6)


@given(DOCUMENTS)
def test_an_object_of_members_encoded_once_is_its_sorted_json(document: dict[str, Any]) -> None:
    assert CanonicalObject.of(document).text() == json.dumps(document, sort_keys=True)


@given(DOCUMENTS, st.text(), VALUES, DOCUMENTS)
def test_members_set_later_give_the_json_of_the_merged_document(
    document: dict[str, Any], name: str, value: Any, nested: dict[str, Any]
) -> None:
    merged = CanonicalObject.of(document).with_member(name, value)
    assert merged.text() == json.dumps({**document, name: value}, sort_keys=True)
    outer = CanonicalObject.of(document).with_object("evidence", CanonicalObject.of(nested))
    assert outer.text() == json.dumps({**document, "evidence": nested}, sort_keys=True)


def test_none_is_the_empty_object_and_an_object_is_kept() -> None:
    assert as_canonical(None).text() == "{}"
    assert as_canonical({"b": [1, "é"], "a": {"y": 2, "x": 1}}).text() == (
        '{"a": {"x": 1, "y": 2}, "b": [1, "\\u00e9"]}'
    )
    kept = CanonicalObject.of({"a": 1})
    assert as_canonical(kept) is kept
