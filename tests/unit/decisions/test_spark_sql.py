"""The compiled query in Spark SQL: each rewrite that keeps DuckDB's meaning, and a loud refusal
of any construct whose Spark rendering nobody has checked (no Spark session needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_engine_caps import BOTH
from test_spark import crowded_policy

from creditline.config import shipped_policy_file
from creditline.decisions.compiler import compile_policy
from creditline.decisions.policy import load_policy
from creditline.decisions.spark_sql import spark_sql
from creditline.kernel.invariant import InvariantViolation

POLICIES = sorted(
    [
        *Path(__file__).parents[3].joinpath("policies").glob("*.yaml"),
        *shipped_policy_file().parent.glob("*.yaml"),
    ]
)


def test_a_division_is_in_double_as_in_duckdb() -> None:
    assert spark_sql("SELECT floor(limit_minor * 0.5 / 100) FROM features") == (
        "SELECT FLOOR(CAST(limit_minor * 0.5 AS DOUBLE) / CAST(100 AS DOUBLE)) FROM features"
    )


def test_hugeint_is_a_decimal_of_38_digits_and_floor_division_is_div() -> None:
    assert spark_sql("SELECT CAST(x AS HUGEINT) * 7 // 3 FROM features") == (
        "SELECT CAST(x AS DECIMAL(38, 0)) * 7 DIV 3 FROM features"
    )


def test_a_slice_ends_where_duckdbs_ends() -> None:
    rendered = spark_sql(
        "SELECT list_slice(list_concat(CASE WHEN a THEN ['x'] ELSE []::VARCHAR[] END, "
        "CASE WHEN b THEN ['y'] ELSE []::VARCHAR[] END), 2, 4) FROM features"
    )
    assert rendered.startswith("SELECT SLICE(CONCAT(CASE WHEN a THEN ARRAY('x') ")
    assert rendered.endswith("), 2, 3) FROM features")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT list_sort(reasons) FROM features",  # a function nobody vetted
        "SELECT CAST(opened AS DATE) FROM features",  # a type nobody vetted
        "SELECT a FROM features ORDER BY a",  # a clause nobody vetted
        "SELECT list_concat(reasons, ['x']) FROM features",  # a list that might be NULL
        "SELECT list_slice(reasons, 1, n) FROM features",  # a bound not known up front
    ],
)
def test_an_unvetted_construct_is_refused(query: str) -> None:
    with pytest.raises(InvariantViolation):
        spark_sql(query)


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_every_shipped_policy_renders_under_every_cap(path: Path) -> None:
    query = spark_sql(compile_policy(load_policy(path), BOTH).sql)
    assert "DECIMAL(38, 0)" in query and "HUGEINT" not in query and "INT128" not in query


def test_a_policy_whose_reasons_outnumber_four_renders() -> None:
    query = spark_sql(compile_policy(crowded_policy()).sql)
    assert "SLICE(CONCAT(" in query and query.count("CAST(ARRAY() AS ARRAY<STRING>)") > 8
