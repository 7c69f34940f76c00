"""A rule's condition: a SQL expression over known features, checked against an allow-list.

A condition may hold comparisons, boolean logic, arithmetic (no division: ratios are features of
their own) and a few functions, over feature names and literals, and nothing else: no table,
no subquery, no other function. It must also be true or false all the way down its boolean
operators, and well typed, with arithmetic every engine computes exactly (`condition_types`).
Conditions are parsed in the DuckDB dialect, which the compiled policy runs in; the query
carries the parsed tree's own reading (`condition_sql`), so no engine's parser reads it another
way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import exp

from creditline.decisions.condition_types import ConditionTypeError, condition_types
from creditline.decisions.features import FEATURES, Feature, FeatureType

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
    exp.Coalesce,
    exp.Abs,
    exp.Least,
    exp.Greatest,
)
RULE_NODES = _ALLOWED_NODES  # public: the Spark rendering vets the query against it
_FUNCTIONS = ("coalesce", "abs", "least", "greatest")


def condition_problems(
    where: str, condition: str, features: Mapping[str, Feature] = FEATURES
) -> list[str]:
    """Every problem in `condition` over `features`, each message starting with `where` (empty:
    allowed)."""
    return checked_condition(where, condition, features)[1]


def checked_condition(
    where: str, condition: str, features: Mapping[str, Feature] = FEATURES
) -> tuple[exp.Expression | None, list[str]]:
    """`condition` parsed (None if it does not parse) and its problems (`condition_problems`)."""
    try:
        parsed = sqlglot.parse_one(condition, dialect="duckdb")
    except sqlglot.errors.ParseError as error:
        return None, [f"{where}: not an expression: {str(error).splitlines()[0]}"]
    if not isinstance(parsed, exp.Expression):
        return None, [f"{where}: not an expression"]
    found = (_node_problem(node, features) for node in parsed.walk())
    problems = [f"{where}: {problem}" for problem in found if problem]
    if not problems and not _is_condition(parsed, features):
        problems.append(f"{where}: a rule must be a condition (true or false)")
    if not problems:
        try:
            condition_types(parsed, features)
        except ConditionTypeError as error:
            problems.append(f"{where}: {error}")
    return parsed, problems


def condition_sql(condition: exp.Expression) -> str:
    """`condition` in DuckDB's SQL, read as the lint and the in-process evaluator read it: every
    operand that is not a name, a literal or a function in parentheses (DuckDB refuses
    `a > b = c`, and a parser of another dialect might group `a AND b OR c` otherwise), and
    BETWEEN spelled out as `value >= low AND value <= high`, where DuckDB would compare all
    three at one common type and Spark each bound on its own."""
    tree = condition.copy().transform(_spelled_out_between)
    for node in list(tree.walk()):
        if isinstance(node, exp.Binary | exp.Not | exp.Neg | exp.In):
            for key in ("this", "expression"):
                operand = node.args.get(key)
                if isinstance(operand, exp.Expression) and not isinstance(operand, _ATOMS):
                    node.set(key, exp.Paren(this=operand))
            if isinstance(node, exp.In):
                node.set("expressions", [_atom(option) for option in node.expressions])
    return tree.sql(dialect="duckdb")


_ATOMS = (exp.Column, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Func)


def _atom(node: exp.Expression) -> exp.Expression:
    return node if isinstance(node, _ATOMS) else exp.Paren(this=node)


def _spelled_out_between(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.Between):
        return node
    value, low, high = node.this, node.args["low"], node.args["high"]

    def between(lower: exp.Expression, upper: exp.Expression) -> exp.Expression:
        return exp.And(
            this=exp.GTE(this=value.copy(), expression=lower.copy()),
            expression=exp.LTE(this=value.copy(), expression=upper.copy()),
        )

    spelled = between(low, high)
    if node.args.get("symmetric"):
        spelled = exp.Or(
            this=exp.Paren(this=spelled), expression=exp.Paren(this=between(high, low))
        )
    return exp.Paren(this=spelled)


def _node_problem(node: Any, features: Mapping[str, Feature]) -> str | None:
    """Why one node of a parsed condition is not allowed, or None."""
    if isinstance(node, exp.Column):
        if node.table or node.name not in features:
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


def _is_condition(node: Any, features: Mapping[str, Feature]) -> bool:
    """A true-or-false expression all the way down its boolean operators."""
    node = unwrapped(node)
    if isinstance(node, exp.And | exp.Or):
        return _is_condition(node.this, features) and _is_condition(node.expression, features)
    if isinstance(node, exp.Not):
        return _is_condition(node.this, features)
    if isinstance(node, exp.Column):
        feature = features.get(node.name)
        return feature is not None and feature.type is FeatureType.BOOLEAN
    return isinstance(node, exp.Predicate | exp.Boolean)
