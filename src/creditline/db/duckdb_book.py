"""A copy of the book in DuckDB, and Core queries run on it as on the stores.

Reports at book scale run the same SQLAlchemy Core queries the stores run, on DuckDB
(vectorised, larger than memory). A query is compiled by PostgreSQL's compiler under the name
`duckdb` (DuckDB speaks PostgreSQL's SQL; the constructs of `db/portable.py` have their own
spelling for it) with `?` parameters. Times are kept as naive UTC `TIMESTAMP`s, as SQLite keeps
them.

A copy is made table by table from selects the capabilities publish (their report sources):
the rows are streamed from the store through a CSV file into a DuckDB table of the same name
and columns, so the queries built on the capabilities' tables find them there.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Date,
    DateTime,
    Integer,
    Select,
    column,
    select,
    table,
)
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

from creditline.db.metadata import UtcDateTime

COPY_ROWS_PER_FETCH = 50_000


class DuckDBDialect(PGDialect):
    """PostgreSQL's SQL compiler, named `duckdb`, with `?` parameters (compiling only)."""

    name = "duckdb"
    supports_statement_cache = False

    def __init__(self) -> None:
        super().__init__(paramstyle="qmark")  # type: ignore[no-untyped-call]


DIALECT = DuckDBDialect()


def duckdb_type(sql_type: TypeEngine[Any]) -> str:
    """The DuckDB column type that holds values of `sql_type` as the stores do."""
    if isinstance(sql_type, UtcDateTime | DateTime):
        return "TIMESTAMP"
    if isinstance(sql_type, Date):
        return "DATE"
    if isinstance(sql_type, Boolean):
        return "BOOLEAN"
    if isinstance(sql_type, BigInteger | Integer):
        return "BIGINT"
    return "VARCHAR"


def _naive_utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


class DuckDBBook:
    """A DuckDB database holding a copy of the book; `execute` takes a Core query."""

    dialect = DIALECT

    def __init__(self, path: Path | str = ":memory:", *, threads: int | None = None) -> None:
        self.raw = duckdb.connect(str(path))
        # Every query that lists rows orders them; a kept read need not keep the order it
        # was made in, so DuckDB may write it from each thread without buffering.
        self.raw.execute("SET preserve_insertion_order = false")
        if threads is not None:
            self.raw.execute(f"SET threads = {int(threads)}")

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.raw.close()

    def sql(self, statement: ClauseElement) -> tuple[str, list[Any]]:
        """The statement as DuckDB's SQL and its parameters in order."""
        compiled = statement.compile(dialect=DIALECT, compile_kwargs={"render_postcompile": True})
        assert isinstance(compiled, SQLCompiler)
        params = compiled.construct_params()
        order = compiled.positiontup or []
        return str(compiled), [_naive_utc(params[name]) for name in order]

    def execute(self, statement: ClauseElement) -> list[tuple[Any, ...]]:
        """Every row of a Core query."""
        sql, params = self.sql(statement)
        return self.raw.execute(sql, params).fetchall()

    def keep(self, name: str, subquery: Any) -> Any:
        """`subquery` computed once into the temporary table `name`: a table of the same
        columns, to read in its place (a report's figures share their costly reads)."""
        sql, params = self.sql(select(subquery))
        self.raw.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}', params)
        return table(name, *(column(c.name, c.type) for c in subquery.c))

    def create(self, name: str, columns: Sequence[tuple[str, TypeEngine[Any]]]) -> None:
        """An empty table `name` with `columns` (name, SQLAlchemy type)."""
        body = ", ".join(f'"{column}" {duckdb_type(kind)}' for column, kind in columns)
        self.raw.execute(f'DROP TABLE IF EXISTS "{name}"')
        self.raw.execute(f'CREATE TABLE "{name}" ({body})')

    def copy_from(
        self,
        connection: Connection,
        name: str,
        source: Select[Any],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Copy the rows of `source` (run on the store) into a new table `name`; the rows."""
        columns = [(column.name, column.type) for column in source.selected_columns]
        self.create(name, columns)
        with tempfile.TemporaryDirectory(prefix="creditline-copy-") as directory:
            path = Path(directory) / f"{name}.csv"
            copied = _write_csv(
                path,
                connection.execution_options(yield_per=COPY_ROWS_PER_FETCH).execute(source),
                progress,
            )
            if copied:
                self.raw.execute(
                    f"COPY \"{name}\" FROM '{path}' (FORMAT csv, HEADER false, NULLSTR '\\N')"
                )
        return copied


def _write_csv(path: Path, rows: Iterable[Any], progress: Callable[[int], None] | None) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        batch: list[list[Any]] = []
        for row in rows:
            batch.append([_csv_value(value) for value in row])
            if len(batch) == COPY_ROWS_PER_FETCH:
                writer.writerows(batch)
                count += len(batch)
                batch.clear()
                if progress is not None:
                    progress(count)
        writer.writerows(batch)
        count += len(batch)
        if progress is not None:
            progress(count)
    return count


def _csv_value(value: Any) -> Any:
    if value is None:
        return "\\N"
    if isinstance(value, dt.datetime):
        return _naive_utc(value).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
