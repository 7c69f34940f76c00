"""A batch of features reaches DuckDB as it was read: each value of its type, a missing one null."""

from __future__ import annotations

import duckdb

from creditline.decisions.engine import FEATURE_COLUMNS, features_table_sql, load_features
from creditline.kernel.money import AMOUNT_MINOR_MAX


def test_values_and_missing_values_arrive_as_they_were_read() -> None:
    rows = [
        {
            "line_id": "line-1",
            "limit_minor": AMOUNT_MINOR_MAX,  # beyond a double's exact integers
            "utilisation": 0.25,
            "income_evidence": False,
            "employment": "retired",
            "days_since_cut": 0,
        },
        {"line_id": "line-2", "limit_minor": 1, "utilisation": 1, "income_evidence": True},
        {"line_id": "line-3"},  # everything unknown but the line
    ]
    connection = duckdb.connect(":memory:")
    connection.execute(features_table_sql())
    load_features(connection, [])  # an empty batch adds nothing
    load_features(connection, rows)
    cursor = connection.execute("SELECT * FROM features ORDER BY line_id")
    names = [column[0] for column in cursor.description]
    read = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    assert names == list(FEATURE_COLUMNS)
    assert read == [{name: row.get(name) for name in names} for row in rows]
    assert type(read[0]["limit_minor"]) is int and type(read[1]["utilisation"]) is float
    assert type(read[0]["income_evidence"]) is bool
