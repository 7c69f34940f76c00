"""SQL expressions that each store spells its own way, for the set-based reports.

Every capability's published report reads (`*/portfolio_views.py`) build one SQLAlchemy Core
query that runs unchanged on SQLite, on PostgreSQL and on DuckDB (`db/duckdb_book.py`); the
few functions the three spell differently are these constructs, each compiled per store.
Times come out as whole milliseconds since the epoch (SQLite keeps no finer), dates as day
numbers, so that every store returns the same integers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, Integer, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement


class epoch_ms(FunctionElement[int]):
    """A timestamp as whole milliseconds since 1970-01-01 UTC (truncated)."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_ms"


class day_number(FunctionElement[int]):
    """A date as days since 1970-01-01."""

    type = Integer()
    inherit_cache = True
    name = "day_number"


class month_number(FunctionElement[int]):
    """A date's calendar month as year × 12 + month − 1: months apart subtract."""

    type = Integer()
    inherit_cache = True
    name = "month_number"


class int_divide(FunctionElement[int]):
    """Integer division of two integers (rounded towards zero)."""

    type = BigInteger()
    inherit_cache = True
    name = "int_divide"


class json_text(FunctionElement[str]):
    """A member of a JSON object held as text, as text: `json_text(column, "grade")`; or an
    element of a JSON array with an integer: `json_text(column, 0)`."""

    type = String()
    inherit_cache = False  # the member is written into the SQL: no cached statement shares it
    name = "json_text"


class plus_days(FunctionElement[Any]):
    """A date `days` (a Python int) later."""

    type = Date()
    inherit_cache = False  # the days are written into the SQL
    name = "plus_days"


def _args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


def _constant(element: FunctionElement[Any], position: int) -> Any:
    """The literal value of an argument that must be a Python constant."""
    clause = list(element.clauses)[position]
    value = getattr(clause, "value", None)
    if not isinstance(value, int | str) or isinstance(value, bool):
        raise TypeError(f"{element.name}: argument {position} must be a constant")
    return value


@compiles(epoch_ms, "sqlite")
def _epoch_ms_sqlite(element: epoch_ms, compiler: SQLCompiler, **kw: Any) -> str:
    [at] = _args(element, compiler, **kw)
    return (
        f"(CAST(strftime('%s', {at}) AS INTEGER) * 1000 "
        f"+ CAST(substr(strftime('%f', {at}), 4) AS INTEGER))"
    )


@compiles(epoch_ms, "postgresql")
def _epoch_ms_postgresql(element: epoch_ms, compiler: SQLCompiler, **kw: Any) -> str:
    [at] = _args(element, compiler, **kw)
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {at}) * 1000) AS BIGINT)"


@compiles(epoch_ms, "duckdb")
def _epoch_ms_duckdb(element: epoch_ms, compiler: SQLCompiler, **kw: Any) -> str:
    [at] = _args(element, compiler, **kw)
    return f"epoch_ms(CAST({at} AS TIMESTAMP))"


@compiles(day_number, "sqlite")
def _day_number_sqlite(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    [day] = _args(element, compiler, **kw)
    return f"CAST(julianday({day}) - 2440587.5 AS INTEGER)"


@compiles(day_number, "postgresql")
@compiles(day_number, "duckdb")
def _day_number(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    [day] = _args(element, compiler, **kw)
    return f"(CAST({day} AS DATE) - DATE '1970-01-01')"


@compiles(month_number, "sqlite")
def _month_number_sqlite(element: month_number, compiler: SQLCompiler, **kw: Any) -> str:
    [day] = _args(element, compiler, **kw)
    return (
        f"(CAST(strftime('%Y', {day}) AS INTEGER) * 12 "
        f"+ CAST(strftime('%m', {day}) AS INTEGER) - 1)"
    )


@compiles(month_number, "postgresql")
@compiles(month_number, "duckdb")
def _month_number(element: month_number, compiler: SQLCompiler, **kw: Any) -> str:
    [day] = _args(element, compiler, **kw)
    return (
        f"(CAST(EXTRACT(YEAR FROM CAST({day} AS DATE)) AS INTEGER) * 12 "
        f"+ CAST(EXTRACT(MONTH FROM CAST({day} AS DATE)) AS INTEGER) - 1)"
    )


@compiles(int_divide, "sqlite")
@compiles(int_divide, "postgresql")
def _int_divide(element: int_divide, compiler: SQLCompiler, **kw: Any) -> str:
    numerator, denominator = _args(element, compiler, **kw)
    return f"(CAST({numerator} AS BIGINT) / CAST({denominator} AS BIGINT))"


@compiles(int_divide, "duckdb")
def _int_divide_duckdb(element: int_divide, compiler: SQLCompiler, **kw: Any) -> str:
    numerator, denominator = _args(element, compiler, **kw)
    return f"(CAST({numerator} AS BIGINT) // CAST({denominator} AS BIGINT))"


def _json_path(element: json_text) -> str:
    member = _constant(element, 1)
    return f"'$[{member}]'" if isinstance(member, int) else f"'$.{member}'"


@compiles(json_text, "sqlite")
def _json_text_sqlite(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    document = compiler.process(next(iter(element.clauses)), **kw)
    return f"CAST(json_extract({document}, {_json_path(element)}) AS TEXT)"


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    document = compiler.process(next(iter(element.clauses)), **kw)
    member = _constant(element, 1)
    key = str(member) if isinstance(member, int) else f"'{member}'"
    return f"(CAST({document} AS JSON) ->> {key})"


@compiles(json_text, "duckdb")
def _json_text_duckdb(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    document = compiler.process(next(iter(element.clauses)), **kw)
    return f"json_extract_string({document}, {_json_path(element)})"


@compiles(plus_days, "sqlite")
def _plus_days_sqlite(element: plus_days, compiler: SQLCompiler, **kw: Any) -> str:
    day = compiler.process(next(iter(element.clauses)), **kw)
    return f"date({day}, '{int(_constant(element, 1)):+d} days')"


@compiles(plus_days, "postgresql")
@compiles(plus_days, "duckdb")
def _plus_days(element: plus_days, compiler: SQLCompiler, **kw: Any) -> str:
    day = compiler.process(next(iter(element.clauses)), **kw)
    return f"(CAST({day} AS DATE) + {int(_constant(element, 1))})"


def json_member(document: ColumnElement[Any], member: str | int) -> ColumnElement[str]:
    """A JSON member or array element of `document` as text (`member` is a constant)."""
    return json_text(document, literal(member))


def days_after(day: ColumnElement[Any], days: int) -> ColumnElement[Any]:
    """The date `days` after `day`."""
    return plus_days(day, literal(days))


class json_path_text(FunctionElement[str]):
    """A member nested in a JSON document held as text, as text:
    `json_path_text(column, literal("trace.attributes.0.bin"))` (numbers index arrays)."""

    type = String()
    inherit_cache = False  # the path is written into the SQL
    name = "json_path_text"


def _path_steps(element: json_path_text) -> list[str]:
    path = _constant(element, 1)
    steps = str(path).split(".")
    if not all(s.replace("_", "").isalnum() for s in steps):
        raise TypeError("json_path_text: a path of names and indexes")
    return steps


@compiles(json_path_text, "sqlite")
def _json_path_text_sqlite(element: json_path_text, compiler: SQLCompiler, **kw: Any) -> str:
    document = compiler.process(next(iter(element.clauses)), **kw)
    path = "".join(f"[{s}]" if s.isdigit() else f".{s}" for s in _path_steps(element))
    return f"CAST(json_extract({document}, '${path}') AS TEXT)"


@compiles(json_path_text, "postgresql")
def _json_path_text_postgresql(element: json_path_text, compiler: SQLCompiler, **kw: Any) -> str:
    document = compiler.process(next(iter(element.clauses)), **kw)
    return f"(CAST({document} AS JSON) #>> '{{{','.join(_path_steps(element))}}}')"


def json_path(document: ColumnElement[Any], path: str) -> ColumnElement[str]:
    """A nested JSON member of `document` as text (`path`: dotted names and indexes)."""
    return json_path_text(document, literal(path))


class one_of(FunctionElement[bool]):
    """`one_of(column, bindparam("ids"))`: the column's value is in a list bound as one
    parameter (`Transaction.values`), so a statement is prepared once whatever the list's
    length: `= ANY(…)` of an array on PostgreSQL, `IN` the elements of a JSON array on SQLite."""

    type = Boolean()
    inherit_cache = True
    name = "one_of"


@compiles(one_of, "postgresql")
def _one_of_postgresql(element: one_of, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = _args(element, compiler, **kw)
    return f"{column} = ANY({values})"


@compiles(one_of, "sqlite")
def _one_of_sqlite(element: one_of, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = _args(element, compiler, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"
