"""The compiled policy on Apache Spark: the book decided beyond one machine (DESIGN.md §5).

Spark runs the same compiled query as DuckDB, written in Spark SQL with the same meaning
(`decisions/spark_sql.py`), over features that arrive as Parquet; the decision rows go back as
Parquet. The query is SQL only, with no Python function in it, so Spark's executors run it
without Python or creditline installed: only the process that submits the job (the driver)
needs the package, the policy and the database.

A review on Spark (`creditline review --engine spark`) writes the book's features to an
exchange directory, decides them there and reads the decisions back in batches, which the
review applies through the ledger exactly as it applies DuckDB's (`DecisionService.review_book`).
A policy simulation on Spark (`creditline policy simulate --engine spark`) decides the book
there with the candidate and with the active version, and compares the two in DuckDB as it
does when DuckDB decided them.
On a cluster the exchange directory must be one path that the submitting machine and every
executor see alike (a shared mount); docs/spark.md shows a `spark-submit`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
from pyspark.sql import SparkSession

from creditline.decisions.batch import (
    BATCH_LINES,
    BookDecider,
    check_columns,
    read_decisions,
    write_features,
)
from creditline.decisions.engine import Decision, Engine, features_select_sql
from creditline.decisions.simulation import Decider, through_parquet
from creditline.decisions.spark_sql import SPARK_SEMANTICS, spark_sql
from creditline.kernel.ids import new_id

__all__ = [
    "BookDecider",
    "Decider",
    "book_on_spark",
    "decide_on_spark",
    "session",
    "simulation_on_spark",
]

APP_NAME = "creditline"
LOCAL_MASTER = "local[*]"
# Set by spark-submit for the Python driver it starts: its master and resources then apply.
_SUBMITTED = "PYSPARK_GATEWAY_PORT"
_FEATURES_VIEW = "creditline_features"
# The policy is one wide projection: whole-stage code generation makes it a Java method above
# HotSpot's 8,000-byte limit for compiling to machine code, which then runs interpreted, about
# 2.7x slower than without it (300,000 lines, local[2]: 13.2 s against 4.9 s). At this limit
# Spark falls back for that method alone (docs/decisions/0016-spark-same-query.md).
SPARK_TUNING = {"spark.sql.codegen.hugeMethodLimit": "8000"}


def session(master: str | None = None, config: dict[str, str] | None = None) -> SparkSession:
    """A Spark session to decide on: on `master` when given; else the one spark-submit
    configured, or a local one on every core (`local[*]`). `config`: more Spark settings."""
    builder = SparkSession.builder.appName(APP_NAME)
    if master is None and _SUBMITTED not in os.environ:
        master = LOCAL_MASTER
    if master is not None:
        builder = builder.master(master)
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def decide_on_spark(engine: Engine, features_path: str, out_path: str, spark: SparkSession) -> None:
    """Decide every line of the Parquet features at `features_path` on Spark and write the
    decision rows as Parquet to the directory `out_path` (replaced). The query runs in a
    session of its own, with the SQL settings its meaning depends on (`SPARK_SEMANTICS`) and
    one for its speed (`SPARK_TUNING`)."""
    own = spark.newSession()
    for key, value in (SPARK_SEMANTICS | SPARK_TUNING).items():
        own.conf.set(key, value)
    features = own.read.parquet(features_path)
    check_columns(engine, features_path, features.columns)
    features.createOrReplaceTempView(_FEATURES_VIEW)
    query = engine.compiled.sql_over(features_select_sql(_FEATURES_VIEW, engine.features))
    own.sql(spark_sql(query)).write.mode("overwrite").parquet(out_path)


def book_on_spark(spark: SparkSession, exchange: Path | None = None) -> BookDecider:
    """A book decider that runs on `spark`: the features to Parquet in a directory of their
    own under `exchange` (kept there; default: a temporary directory, removed after, which only
    local Spark can see), decided there, read back in batches."""

    def decide(engine: Engine, book: list[dict[str, Any]]) -> Iterator[list[Decision]]:
        if exchange is not None:
            yield from _decide_in(engine, book, exchange / f"review-{new_id()}", spark)
            return
        with tempfile.TemporaryDirectory(prefix="creditline-spark-") as directory:
            yield from _decide_in(engine, book, Path(directory), spark)

    return decide


def simulation_on_spark(spark: SparkSession, exchange: Path | None = None) -> Decider:
    """A policy simulation's decider on `spark`: the book's features to Parquet in a directory
    of their own under `exchange` (kept; default: a temporary directory, removed after, which
    only local Spark can see), the candidate and the active version decided there with the
    same compiled query as on DuckDB, their decision rows read back for the comparison."""

    def decide(
        connection: duckdb.DuckDBPyConnection,
        engines: dict[str, Engine],
        book: list[dict[str, Any]],
    ) -> None:
        if exchange is not None:
            through_parquet(exchange / f"simulation-{new_id()}", spark)(connection, engines, book)
            return
        with tempfile.TemporaryDirectory(prefix="creditline-spark-") as directory:
            through_parquet(Path(directory), spark)(connection, engines, book)

    return decide


def _decide_in(
    engine: Engine, book: list[dict[str, Any]], directory: Path, spark: SparkSession
) -> Iterator[list[Decision]]:
    if not book:
        return
    features, decisions = directory / "features.parquet", directory / "decisions"
    write_features(book, features, engine.features)
    # As file: URIs, or a cluster whose default file system is HDFS would look there.
    decide_on_spark(engine, features.resolve().as_uri(), decisions.resolve().as_uri(), spark)
    yield from read_decisions(engine, str(decisions), BATCH_LINES)
