"""A rule's condition: a SQL expression over known features, checked against an allow-list.

A condition may hold comparisons, boolean logic, arithmetic (no division: ratios are features of
their own) and a few functions, over feature names and literals, and nothing else: no table,
no subquery, no other function. It must also be true or false all the way down its boolean
operators. Conditions are parsed in the DuckDB dialect, which the compiled policy runs in.
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

from creditline.decisions.features import FEATURES, FeatureType

# What a rule may contain besides known feature names and literals.
_ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.And,
    exp.Or,
    exp.Not,
    exp.Paren,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Between,
    exp.In,
    exp.Is,
    exp.Null,
    exp.Boolean,
    exp.Literal,
    exp.Neg,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Column,
    exp.Identifier,
    exp.Tuple,
    exp.Coalesce,
    exp.Abs,
    exp.Least,
    exp.Greatest,
)
RULE_NODES = _ALLOWED_NODES  # public: the Spark rendering vets the query against it
_FUNCTIONS = ("coalesce", "abs", "least", "greatest")


def condition_problems(where: str, condition: str) -> list[str]:
    """Every problem in `condition`, each message starting with `where` (empty: allowed)."""
    try:
        parsed = sqlglot.parse_one(condition, dialect="duckdb")
    except sqlglot.errors.ParseError as error:
        return [f"{where}: not an expression: {str(error).splitlines()[0]}"]
    problems = [f"{where}: {problem}" for problem in map(_node_problem, parsed.walk()) if problem]
    if not problems and not _is_condition(parsed):
        problems.append(f"{where}: a rule must be a condition (true or false)")
    return problems


def _node_problem(node: Any) -> str | None:
    """Why one node of a parsed condition is not allowed, or None."""
    if isinstance(node, exp.Column):
        if node.table or node.name not in FEATURES:
            return f"unknown feature {node.sql()!r}"
    elif isinstance(node, exp.Func) and not isinstance(node, _ALLOWED_NODES):
        name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
        return f"function {name.lower()!r} is not allowed (allowed: {', '.join(_FUNCTIONS)})"
    elif isinstance(node, exp.Div):
        return "division is not allowed in a rule (use a ratio feature)"
    elif isinstance(node, exp.Is) and not isinstance(node.expression, exp.Null):
        return "IS compares with NULL only (IS NULL, IS NOT NULL)"
    elif not isinstance(node, _ALLOWED_NODES):
        return f"{type(node).__name__} is not allowed in a rule"
    return None


def unwrapped(node: Any) -> Any:
    """`node` without the parentheses around it."""
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _is_condition(node: Any) -> bool:
    """A true-or-false expression all the way down its boolean operators."""
    node = unwrapped(node)
    if isinstance(node, exp.And | exp.Or):
        return _is_condition(node.this) and _is_condition(node.expression)
    if isinstance(node, exp.Not):
        return _is_condition(node.this)
    if isinstance(node, exp.Column):
        feature = FEATURES.get(node.name)
        return feature is not None and feature.type is FeatureType.BOOLEAN
    return isinstance(node, exp.Predicate | exp.Boolean)
