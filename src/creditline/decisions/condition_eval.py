"""A rule's condition evaluated over one row in Python, meaning exactly what the compiled SQL
means (docs/decisions/0019).

The condition is compiled once into nested functions, each computing one node as SQL does at
the node's type (`condition_types`): NULL (None) in, NULL out; AND, OR and NOT in three-valued
logic; integers exact, decimals exact, and a DOUBLE wherever a ratio or an exponent literal
meets a number (a decimal converted correctly rounded, as both engines convert it); `IN`,
`coalesce`, `least`, `greatest` and each comparison at the common type of all their operands,
whichever of them is NULL on the row; `BETWEEN` as `value >= low AND value <= high` (each bound
on its own, as the standard defines it and as the compiler writes it); NaN equal to itself and
above every other DOUBLE, as both engines order it.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sqlglot import exp

from creditline.decisions.condition_types import Kind, SqlType, common_type, condition_types
from creditline.decisions.features import FEATURES, Feature
from creditline.kernel.invariant import fail

Value = Any  # None (SQL NULL), bool, int, Decimal, float or str
Row = Mapping[str, Value]
Evaluate = Callable[[Row], Value]

# Room for any DECIMAL of 38 digits and its products: the types keep results within it.
_EXACT = decimal.Context(prec=100, traps=[decimal.Inexact, decimal.InvalidOperation])
_COMPARISONS: dict[type[exp.Expression], Callable[[int], bool]] = {
    exp.EQ: lambda order: order == 0,
    exp.NEQ: lambda order: order != 0,
    exp.GT: lambda order: order > 0,
    exp.GTE: lambda order: order >= 0,
    exp.LT: lambda order: order < 0,
    exp.LTE: lambda order: order <= 0,
}


def compiled_condition(
    condition: exp.Expression, features: Mapping[str, Feature] = FEATURES
) -> Evaluate:
    """`condition` over `features` (allowed by the lint) as a function of one row: True, False
    or None."""
    return _Compiler(condition_types(condition, features)).compile(condition)


def as_type(value: Value, kind: Kind) -> Value:
    """`value` converted to `kind` as SQL converts it (None stays None)."""
    if value is None or kind in (Kind.NULL, Kind.BOOLEAN, Kind.TEXT):
        return value
    if kind is Kind.DOUBLE:
        return float(value)  # correctly rounded from an int or a Decimal, as both engines do
    if kind is Kind.DECIMAL:
        return Decimal(value)
    return int(value)


def sql_order(left: Value, right: Value) -> int:
    """-1, 0 or 1: how SQL orders two known values of one type (NaN equals NaN, above all)."""
    if isinstance(left, float) and isinstance(right, float):
        left_nan, right_nan = math.isnan(left), math.isnan(right)
        if left_nan or right_nan:
            return int(left_nan) - int(right_nan)
    return -1 if left < right else int(left > right)


def _and(left: Value, right: Value) -> Value:
    if left is False or right is False:
        return False
    return None if left is None or right is None else True


def _or(left: Value, right: Value) -> Value:
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


class _Compiler:
    """Turns each node into a function of the row, at the node's SQL type."""

    def __init__(self, types: dict[int, SqlType]) -> None:
        self._types = types

    def type(self, node: exp.Expression) -> SqlType:
        return self._types[id(node)]

    def compile(self, node: exp.Expression) -> Evaluate:
        if isinstance(node, exp.Paren):
            return self.compile(node.this)
        if isinstance(node, exp.Column):
            name, kind = node.name, self.type(node).kind
            return lambda row: as_type(row.get(name), kind)
        if isinstance(node, exp.Literal | exp.Boolean | exp.Null):
            constant = _constant(node)
            return lambda row: constant
        if isinstance(node, exp.And | exp.Or | exp.Not):
            return self._logic(node)
        if isinstance(node, exp.Is):
            operand = self.compile(node.this)  # the lint admits IS NULL only
            return lambda row: operand(row) is None
        if isinstance(node, tuple(_COMPARISONS)):
            return self._comparison(node.this, node.expression, _COMPARISONS[type(node)])
        if isinstance(node, exp.Between):
            return self._between(node)
        if isinstance(node, exp.In):
            return self._in(node)
        if isinstance(node, exp.Coalesce | exp.Least | exp.Greatest):
            return self._function(node)
        if isinstance(node, exp.Neg | exp.Abs | exp.Add | exp.Sub | exp.Mul):
            return self._arithmetic(node)
        fail(f"{type(node).__name__} passed the lint but has no evaluation")

    def _logic(self, node: exp.And | exp.Or | exp.Not) -> Evaluate:
        if isinstance(node, exp.Not):
            operand = self.compile(node.this)

            def negation(row: Row) -> Value:
                value = operand(row)
                return None if value is None else not value

            return negation
        left, right = self.compile(node.this), self.compile(node.expression)
        join = _and if isinstance(node, exp.And) else _or
        return lambda row: join(left(row), right(row))

    def _comparison(
        self, left_node: exp.Expression, right_node: exp.Expression, holds: Callable[[int], bool]
    ) -> Evaluate:
        kind = common_type([self.type(left_node), self.type(right_node)], "comparison").kind
        left, right = self.compile(left_node), self.compile(right_node)

        def comparison(row: Row) -> Value:
            a, b = as_type(left(row), kind), as_type(right(row), kind)
            return None if a is None or b is None else holds(sql_order(a, b))

        return comparison

    def _between(self, node: exp.Between) -> Evaluate:
        value, low, high = node.this, node.args["low"], node.args["high"]
        at_least = self._comparison(value, low, _COMPARISONS[exp.GTE])
        at_most = self._comparison(value, high, _COMPARISONS[exp.LTE])
        if not node.args.get("symmetric"):
            return lambda row: _and(at_least(row), at_most(row))
        # BETWEEN SYMMETRIC: either order of the bounds.
        at_least_high = self._comparison(value, high, _COMPARISONS[exp.GTE])
        at_most_low = self._comparison(value, low, _COMPARISONS[exp.LTE])
        return lambda row: _or(
            _and(at_least(row), at_most(row)), _and(at_least_high(row), at_most_low(row))
        )

    def _in(self, node: exp.In) -> Evaluate:
        """NULL when the value is, or when no option matches and one of them is NULL."""
        nodes = [node.this, *node.expressions]
        kind = common_type([self.type(n) for n in nodes], "IN").kind
        value, *options = [self.compile(n) for n in nodes]

        def among(row: Row) -> Value:
            known = as_type(value(row), kind)
            if known is None:
                return None
            found = [as_type(option(row), kind) for option in options]
            if any(o is not None and sql_order(known, o) == 0 for o in found):
                return True
            return None if None in found else False

        return among

    def _function(self, node: exp.Coalesce | exp.Least | exp.Greatest) -> Evaluate:
        """COALESCE: the first known argument. LEAST and GREATEST skip NULLs (all NULL: NULL)."""
        kind = self.type(node).kind
        arguments = [self.compile(n) for n in (node.this, *node.expressions)]
        if isinstance(node, exp.Coalesce):

            def first_known(row: Row) -> Value:
                for argument in arguments:
                    value = argument(row)
                    if value is not None:
                        return as_type(value, kind)
                return None

            return first_known
        wanted = 1 if isinstance(node, exp.Greatest) else -1

        def extreme(row: Row) -> Value:
            best = None
            for argument in arguments:
                value = as_type(argument(row), kind)
                if value is not None and (best is None or sql_order(value, best) == wanted):
                    best = value
            return best

        return extreme

    def _arithmetic(self, node: exp.Neg | exp.Abs | exp.Add | exp.Sub | exp.Mul) -> Evaluate:
        """Negation, abs, `+`, `-` and `*` at the node's type; NULL in, NULL out."""
        kind = self.type(node).kind
        if isinstance(node, exp.Neg | exp.Abs):
            operand = self.compile(node.this)
            unary = _EXACT.minus if isinstance(node, exp.Neg) else _EXACT.abs

            def one(row: Row) -> Value:
                value = as_type(operand(row), kind)
                if value is None:
                    return None
                return unary(value) if isinstance(value, Decimal) else _unary(node, value)

            return one
        left, right = self.compile(node.this), self.compile(node.expression)
        operation = _OPERATIONS[type(node)]

        def two(row: Row) -> Value:
            a, b = as_type(left(row), kind), as_type(right(row), kind)
            return None if a is None or b is None else operation(a, b)

        return two


def _unary(node: exp.Neg | exp.Abs, value: Value) -> Value:
    return -value if isinstance(node, exp.Neg) else abs(value)


def _exact(name: str, plain: Callable[[Value, Value], Value]) -> Callable[[Value, Value], Value]:
    """An operation that is exact on Decimals (never rounded to 28 digits) and plain otherwise."""
    method = getattr(_EXACT, name)
    return lambda a, b: method(a, b) if isinstance(a, Decimal) else plain(a, b)


_OPERATIONS: dict[type[exp.Expression], Callable[[Value, Value], Value]] = {
    exp.Add: _exact("add", lambda a, b: a + b),
    exp.Sub: _exact("subtract", lambda a, b: a - b),
    exp.Mul: _exact("multiply", lambda a, b: a * b),
}


def _constant(node: exp.Literal | exp.Boolean | exp.Null) -> Value:
    """A literal's value: text, an integer, a DECIMAL, or a DOUBLE when it has an exponent."""
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if node.is_string:
        return node.this
    text = node.this.replace("_", "")
    if "e" in text.lower():
        return float(text)
    return Decimal(text) if "." in text else int(text)
