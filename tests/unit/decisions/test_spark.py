"""Spark decides as DuckDB does: the same compiled policy over the same Parquet features gives
the same decision rows, row for row and column by column (trace and features included), on
100,000 generated lines that lean on the edges (`test_single_and_batch`'s generators: nulls,
values on every bin and rule bound and either side of it, limits from zero to the largest
amount), for the shipped policy, and for one with crowded rules (more reasons than a decision
names) under every kind of regulatory cap (`test_engine_caps`).

One local Spark session serves the module (`spark` in conftest).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from pyspark.errors import ArithmeticException
from test_engine_caps import BOTH, CN, US
from test_engine_caps import _random_line as capped_line
from test_single_and_batch import (
    CROWDED_RULES,
    EXAMPLE,
    POLICY,
    edge_lines,
    random_lines,
)

from creditline.decisions.batch import (
    decide_batch,
    decide_parquet,
    parquet_files,
    read_decisions,
    write_features,
)
from creditline.decisions.engine import FEATURE_COLUMNS, Engine
from creditline.decisions.policy import PolicyDocument, parse_policy
from creditline.kernel.errors import InvalidInput
from creditline.ledger.ports import RegulatoryCaps

pytestmark = pytest.mark.xdist_group("spark")

LINES = 100_000
SEED = 20261207


def crowded_policy() -> PolicyDocument:
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document["rules"] += CROWDED_RULES
    return parse_policy(document)


def generated_lines(count: int) -> list[dict[str, Any]]:
    """`count` lines: every edge, a tenth near the caps' edges, the rest random."""
    edges = edge_lines()
    rng = random.Random(SEED)
    near_caps = [{**capped_line(rng, n), "line_id": f"capped-{n}"} for n in range(count // 10)]
    rest = random_lines(count - len(edges) - len(near_caps), seed=SEED)
    return edges + near_caps + rest


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spark") / "features.parquet"
    write_features(generated_lines(LINES), path)
    return path


def differences(duckdb_out: Path, spark_out: Path) -> tuple[int, list[Any], Counter[str]]:
    """Rows in both outputs, the first rows that differ in any column (or are in one only),
    and the actions decided."""
    connection = duckdb.connect(":memory:")
    connection.execute(f"CREATE VIEW d AS SELECT * FROM read_parquet('{duckdb_out}')")
    connection.execute(
        f"CREATE VIEW s AS SELECT * FROM read_parquet('{parquet_files(str(spark_out))}')"
    )
    columns = connection.sql("SELECT * FROM d").columns
    assert sorted(connection.sql("SELECT * FROM s").columns) == sorted(columns)
    differ = " OR ".join(f"d.{c} IS DISTINCT FROM s.{c}" for c in columns)
    first = connection.execute(
        f"SELECT d.line_id, s.line_id FROM d FULL JOIN s ON d.line_id = s.line_id "
        f"WHERE d.line_id IS NULL OR s.line_id IS NULL OR {differ} LIMIT 5"
    ).fetchall()
    [(rows,)] = connection.execute("SELECT count(*) FROM d JOIN s USING (line_id)").fetchall()
    actions = Counter(
        dict(connection.execute("SELECT action, count(*) FROM s GROUP BY 1").fetchall())
    )
    return rows, first, actions


def decided_both_ways(
    engine: Engine, features: Path, spark: Any, directory: Path
) -> tuple[int, list[Any], Counter[str]]:
    duckdb_out, spark_out = directory / "duckdb.parquet", directory / "spark"
    decide_parquet(engine, str(features), str(duckdb_out))
    decide_parquet(engine, str(features), str(spark_out), spark=spark)
    return differences(duckdb_out, spark_out)


def test_spark_decides_a_hundred_thousand_lines_as_duckdb_does(
    features: Path, spark: Any, tmp_path: Path
) -> None:
    rows, first, actions = decided_both_ways(Engine(POLICY), features, spark, tmp_path)
    assert rows == LINES
    assert not first, f"rows that differ: {first}"
    for action in ("keep", "increase", "decrease", "freeze", "suspend"):
        assert actions[action] >= 1000, actions


@pytest.mark.parametrize("caps", [CN, US, BOTH], ids=lambda c: c.profile)
def test_spark_caps_and_names_reasons_as_duckdb_does(
    features: Path, spark: Any, tmp_path: Path, caps: RegulatoryCaps
) -> None:
    engine = Engine(crowded_policy(), caps)
    rows, first, _ = decided_both_ways(engine, features, spark, tmp_path)
    assert rows == LINES
    assert not first, f"rows that differ: {first}"
    reasons = duckdb.sql(
        f"SELECT len(reason_codes) AS n, list_contains(reason_codes, 'regulatory_cap') AS held, "
        f"count(*) FROM read_parquet('{tmp_path}/spark/*.parquet') GROUP BY ALL"
    ).fetchall()
    lengths = {n for n, _, _ in reasons}
    assert lengths == {0, 1, 2, 3, 4}, reasons  # up to the four a decision names
    assert any(held for _, held, _ in reasons), reasons  # the caps held some increases


def test_decisions_read_back_from_spark_are_the_decisions_of_a_batch(
    spark: Any, tmp_path: Path
) -> None:
    engine = Engine(POLICY, CN)
    lines = random_lines(3000, seed=SEED + 1)
    write_features(lines, tmp_path / "features.parquet")
    decide_parquet(engine, str(tmp_path / "features.parquet"), str(tmp_path / "out"), spark=spark)
    read = [d for batch in read_decisions(engine, str(tmp_path / "out"), 700) for d in batch]
    by_line = {d.line_id: d for d in read}
    assert len(read) == len(by_line) == 3000
    assert by_line == {d.line_id: d for d in decide_batch(engine, lines)}


def test_narrower_columns_are_decided_as_the_policy_types_them(spark: Any, tmp_path: Path) -> None:
    """A features file written elsewhere, with 32-bit integers: Spark reads every column as
    its feature's type, and decides as DuckDB does on the features written here."""
    lines = [line for line in random_lines(2000, seed=SEED + 2) if _fits_int32(line)]
    write_features(lines, tmp_path / "wide.parquet")
    columns = duckdb.sql(f"DESCRIBE SELECT * FROM '{tmp_path}/wide.parquet'").fetchall()
    narrowed = ", ".join(
        f"CAST({name} AS INTEGER) AS {name}" if kind == "BIGINT" else name
        for name, kind, *_ in columns
    )
    duckdb.execute(
        f"COPY (SELECT {narrowed} FROM '{tmp_path}/wide.parquet') "
        f"TO '{tmp_path}/narrow.parquet' (FORMAT parquet)"
    )
    engine = Engine(POLICY, BOTH)
    decide_parquet(engine, str(tmp_path / "wide.parquet"), str(tmp_path / "wide.out.parquet"))
    decide_parquet(engine, str(tmp_path / "narrow.parquet"), str(tmp_path / "narrow"), spark=spark)
    rows, first, _ = differences(tmp_path / "wide.out.parquet", tmp_path / "narrow")
    assert (rows, first) == (len(lines), [])


def _fits_int32(line: dict[str, Any]) -> bool:
    return all(
        not isinstance(value, int) or isinstance(value, bool) or abs(value) < 2**31
        for value in line.values()
    )


def test_features_without_a_column_are_refused_on_both_engines(spark: Any, tmp_path: Path) -> None:
    source = tmp_path / "features.parquet"
    write_features(random_lines(10, seed=SEED + 3), source)
    kept = ", ".join(name for name in FEATURE_COLUMNS if name != "dpd")
    duckdb.execute(f"COPY (SELECT {kept} FROM '{source}') TO '{tmp_path}/short.parquet'")
    for spark_or_none in (None, spark):
        with pytest.raises(InvalidInput, match="lack columns: dpd"):
            decide_parquet(
                Engine(POLICY),
                str(tmp_path / "short.parquet"),
                str(tmp_path / "out"),
                spark=spark_or_none,
            )


def test_an_overflow_is_an_error_on_both_engines_not_a_decision(spark: Any, tmp_path: Path) -> None:
    """ANSI SQL on Spark, as in DuckDB: arithmetic that overflows BIGINT stops the run instead
    of deciding on a wrapped-around or null value. The lint refuses a rule that could overflow
    for features within ±10^15 (`condition_types`), so it takes a feature beyond them, which a
    Parquet file written elsewhere may hold."""
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document["rules"].append(
        {
            "id": "overflowing",
            "when": "income_monthly_minor * 1000 > dpd",
            "action": "suspend",
            "reason": "fraud_suspected",
            "priority": 5,
        }
    )
    engine = Engine(parse_policy(document))
    source = tmp_path / "features.parquet"
    line = {"line_id": "big", "limit_minor": 100, "income_monthly_minor": 10**17, "dpd": 0}
    write_features([line], source)
    with pytest.raises(duckdb.Error, match="Overflow in multiplication"):
        decide_parquet(engine, str(source), str(tmp_path / "duckdb.parquet"))
    with pytest.raises(ArithmeticException, match="ARITHMETIC_OVERFLOW"):
        decide_parquet(engine, str(source), str(tmp_path / "spark"), spark=spark)
