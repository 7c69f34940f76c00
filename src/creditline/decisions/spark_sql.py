"""The compiled policy's query in Spark SQL, meaning what it means in DuckDB.

The compiler writes one query in DuckDB's dialect (`decisions/compiler.py`); it stays the one
source. For Spark, sqlglot parses that query and writes it in Spark's dialect, after three
rewrites that spell out what DuckDB means where Spark would read the same text otherwise:

- `a / b` is a DOUBLE division in DuckDB whatever its operands; Spark divides DECIMALs as
  DECIMALs (rounded at a scale of its choosing). Both operands are cast to DOUBLE.
- HUGEINT (the regulatory cap's payment arithmetic, which overflows BIGINT) has no Spark
  type: DECIMAL(38, 0) holds the same integers, and `DIV` truncates it as `//` does.
- `list_slice(l, begin, end)` ends at `end`; Spark's `slice(l, start, length)` takes a length.

Every node of the query must be of a kind whose Spark rendering has been checked to mean the
same (`_VETTED`); anything else fails loudly, so a new construct in the compiler cannot slip
through with another meaning. A session that runs the query keeps ANSI SQL on (integer
overflow and bad casts are errors, as in DuckDB) and backslashes in string literals as
escapes, as sqlglot writes them (`SPARK_SEMANTICS`). The tests hold Spark's decisions to
DuckDB's, row for row and column by column, on 100,000 generated lines.
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

from creditline.decisions.conditions import RULE_NODES
from creditline.kernel.invariant import fail, invariant

# The SQL settings the query's meaning depends on, set on the session that runs it.
SPARK_SEMANTICS = {
    "spark.sql.ansi.enabled": "true",
    "spark.sql.parser.escapedStringLiterals": "false",
}

# What the compiler's query is made of, besides what a rule may contain (`conditions`).
_QUERY_NODES: tuple[type[exp.Expression], ...] = (
    exp.With,
    exp.CTE,
    exp.TableAlias,
    exp.Select,
    exp.From,
    exp.Table,
    exp.Star,
    exp.Alias,
    exp.Case,
    exp.If,
    exp.Cast,
    exp.DataType,
    exp.DataTypeParam,
    exp.Floor,
    exp.Div,
    exp.IntDiv,
    exp.Mod,  # the remainder takes the dividend's sign on both (C's and Java's `%`)
    exp.Array,
    exp.ArrayConcat,
    exp.Anonymous,  # list_slice only (checked below)
)
_VETTED = RULE_NODES + _QUERY_NODES
_TYPES = {
    exp.DataType.Type.BIGINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.DOUBLE,
    exp.DataType.Type.BOOLEAN,
    exp.DataType.Type.TEXT,
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.INT128,
    exp.DataType.Type.ARRAY,
}


def spark_sql(duckdb_sql: str) -> str:
    """`duckdb_sql`, a query the compiler wrote, in Spark SQL with the same meaning."""
    tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    for node in tree.walk():
        _vet(node)
    return tree.transform(_spelled_out).sql(dialect="spark")


def _vet(node: Any) -> None:
    """Fail unless `node`'s Spark rendering is known to mean what it means in DuckDB."""
    if not isinstance(node, _VETTED):
        fail(f"no Spark rendering is vetted for {type(node).__name__}: {node.sql('duckdb')}")
    if isinstance(node, exp.Anonymous) and node.name.lower() != "list_slice":
        fail(f"no Spark rendering is vetted for the function {node.name}")
    if isinstance(node, exp.DataType):
        invariant(node.this in _TYPES, f"no Spark rendering is vetted for the type {node.sql()}")
    if isinstance(node, exp.ArrayConcat):
        # DuckDB's list_concat skips a NULL list; Spark's concat returns NULL. The compiler's
        # lists are CASEs that end in an empty list, never NULL, where the two agree.
        lists = [node.this, *node.expressions]
        invariant(
            all(isinstance(part, exp.Case) and part.args.get("default") for part in lists),
            f"a concatenated list might be NULL: {node.sql('duckdb')}",
        )


def _spelled_out(node: exp.Expression) -> exp.Expression:
    """One node rewritten to say in Spark what DuckDB means by it (others unchanged)."""
    if isinstance(node, exp.Div):
        return exp.Div(this=_double(node.this), expression=_double(node.expression))
    if isinstance(node, exp.DataType) and node.this is exp.DataType.Type.INT128:
        return exp.DataType.build("DECIMAL(38, 0)")
    if isinstance(node, exp.Anonymous) and node.name.lower() == "list_slice":
        items, begin, end = node.expressions
        invariant(begin.is_int and end.is_int, f"list_slice bounds must be integers: {node.sql()}")
        length = exp.Literal.number(int(end.this) - int(begin.this) + 1)
        return exp.Anonymous(this="SLICE", expressions=[items, begin, length])
    return node


def _double(node: exp.Expression) -> exp.Expression:
    return exp.Cast(this=node, to=exp.DataType.build("DOUBLE"))
