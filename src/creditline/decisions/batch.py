"""A book decided in batch: on DuckDB on this machine, or on Spark beyond it, the features and
the decisions passing through Parquet.

A book decider takes the engine and the book's features and yields the decisions a batch at a
time; a review applies each batch through the ledger as it comes (`DecisionService.review_book`),
whichever engine decided it. `decide_parquet` decides a Parquet file of features into a Parquet
file of decision rows, on DuckDB or on a Spark session, with the same compiled query: a policy
simulation can call it on either. A decision row is the compiled query's output row: the action,
the new limit, the reasons, the score, every rule's and attribute's trace and the features seen,
so `Engine.decision` reads a `Decision` back from it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from creditline.decisions.book import chunks
from creditline.decisions.engine import (
    Decision,
    Engine,
    features_select_sql,
    features_table_sql,
    load_features,
)
from creditline.decisions.features import FEATURES, Feature
from creditline.kernel.errors import InvalidInput

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BATCH_LINES = 10_000  # decisions per batch a review applies (and features per DuckDB insert)
# A review's batch on one DuckDB thread: a second made a batch no faster on two cores shared
# with the store (0.18-0.22 s against 0.20-0.28 s for 20,000 lines), only less steady.
REVIEW_DUCKDB_THREADS = 1

# (engine, the book's features) -> the decisions, in batches of at most BATCH_LINES
BookDecider = Callable[[Engine, list[dict[str, Any]]], Iterator[list[Decision]]]


def decide_batch(engine: Engine, rows: list[dict[str, Any]]) -> list[Decision]:
    """Decide a batch of lines' features in one DuckDB query."""
    connection = duckdb.connect(":memory:")
    try:
        connection.execute(features_table_sql(features=engine.features))
        load_features(connection, rows, features=engine.features)
        relation = engine.decide_table(connection)
        names = relation.columns
        return [
            engine.decision(dict(zip(names, values, strict=True))) for values in relation.fetchall()
        ]
    finally:
        connection.close()


def in_duckdb(engine: Engine, book: list[dict[str, Any]]) -> Iterator[list[Decision]]:
    """The book decided on DuckDB, one query per batch of BATCH_LINES lines."""
    for batch in chunks(book, BATCH_LINES):
        yield decide_batch(engine, batch)


def changes_in_duckdb(
    engine: Engine, book: list[dict[str, Any]]
) -> Iterator[tuple[list[Decision], int]]:
    """The book decided on DuckDB as `in_duckdb` decides it, a batch at a time: the decisions
    that change a line, and how many lines keep theirs. No `Decision` is built for a kept line
    (most of a book; a review writes nothing for it unless versions are on trial)."""
    for batch in chunks(book, BATCH_LINES):
        connection = duckdb.connect(":memory:", config={"threads": REVIEW_DUCKDB_THREADS})
        try:
            connection.execute(features_table_sql(features=engine.features))
            load_features(connection, batch, features=engine.features)
            connection.execute(f"CREATE TABLE decided AS {engine.compiled.sql}")
            kept = connection.execute(
                "SELECT count(*) FROM decided WHERE action = 'keep'"
            ).fetchone()
            cursor = connection.execute(
                "SELECT * FROM decided WHERE action IS DISTINCT FROM 'keep' ORDER BY line_id"
            )
            names = [column[0] for column in cursor.description]
            changes = [
                engine.decision(dict(zip(names, row, strict=True))) for row in cursor.fetchall()
            ]
        finally:
            connection.close()
        yield changes, 0 if kept is None else int(kept[0])


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off meanwhile, as it was after. A review allocates a few
    hundred thousand objects without cycles (rows, features, decisions); the collector's ~300
    passes over them cost about a fifth of a 20,000-line review's CPU (docs/performance.md §8).
    What cycles it leaves are collected once it is back on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def write_features(
    rows: list[dict[str, Any]], path: Path, features: Mapping[str, Feature] = FEATURES
) -> None:
    """The lines' `features` (missing ones null) as one Parquet file at `path`, each column of
    its feature's type."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(":memory:")
    try:
        connection.execute(features_table_sql(features=features))
        for batch in chunks(rows, BATCH_LINES):
            load_features(connection, batch, features=features)
        connection.execute(f"COPY features TO {_quoted(str(path))} (FORMAT parquet)")
    finally:
        connection.close()


def decide_parquet(
    engine: Engine, features_path: str, out_path: str, spark: SparkSession | None = None
) -> None:
    """Decide every line of the Parquet features at `features_path` (a file, a directory of
    files or a glob) with `engine`'s compiled policy, and write the decision rows as Parquet to
    `out_path`: on DuckDB here (one file) when `spark` is None, else on that Spark session (a
    directory of files; `decisions.spark`). Each column is read as its feature's type; a
    missing feature column is refused (InvalidInput)."""
    if spark is not None:
        from creditline.decisions.spark import decide_on_spark

        decide_on_spark(engine, features_path, out_path, spark)
        return
    source = f"read_parquet({_quoted(parquet_files(features_path))})"
    connection = duckdb.connect(":memory:")
    try:
        check_columns(engine, features_path, connection.sql(f"SELECT * FROM {source}").columns)
        query = engine.compiled.sql_over(features_select_sql(source, engine.features))
        connection.execute(f"COPY ({query}) TO {_quoted(out_path)} (FORMAT parquet)")
    finally:
        connection.close()


def read_decisions(
    engine: Engine, path: str, lines_max: int = BATCH_LINES
) -> Iterator[list[Decision]]:
    """The decisions `engine` made into the Parquet at `path` (`decide_parquet`), in batches of
    at most `lines_max`."""
    connection = duckdb.connect(":memory:")
    try:
        cursor = connection.execute(f"SELECT * FROM read_parquet({_quoted(parquet_files(path))})")
        names = [column[0] for column in cursor.description]
        while rows := cursor.fetchmany(lines_max):
            yield [engine.decision(dict(zip(names, row, strict=True))) for row in rows]
    finally:
        connection.close()


def check_columns(engine: Engine, features_path: str, columns: list[str]) -> None:
    """Refuse features that lack a column the policy's query reads."""
    missing = [name for name in engine.columns if name not in columns]
    if missing:
        raise InvalidInput(
            f"the features at {features_path} lack columns: {', '.join(missing)}",
            missing=missing,
        )


def parquet_files(path: str) -> str:
    """What reads the Parquet at `path`: the file itself, or a directory's `*.parquet` (how
    Spark writes a table)."""
    return f"{path.rstrip('/')}/*.parquet" if Path(path).is_dir() else path


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
