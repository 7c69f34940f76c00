"""The SQL type of every node of a rule's condition, as DuckDB and Spark type it, and the
conditions refused because the two engines (or SQL and Python) would not compute them alike.

A rule means what SQL says (docs/decisions/0019): the in-process evaluator reads these types to
compute each node as the compiled query does: an integer stays exact, a decimal literal is a
DECIMAL and stays exact through `+`, `-` and `*`, and anything that meets a ratio (a DOUBLE)
becomes a DOUBLE. A `coalesce`, `least`, `greatest`, `IN` or comparison takes the common type
of all its operands, whichever operand is NULL on a row.

Refused, each with a message:
- mixing kinds SQL would convert implicitly or refuse: a number with a category or a boolean,
  arithmetic on a boolean or a category (`dpd = '5'` is true on DuckDB, false in Python);
- arithmetic that may leave what SQL computes exactly, for every value a feature may hold
  (integers within ±AMOUNT_MINOR_MAX): an integer beyond 64 bits, or beyond 32 where only
  literals meet (both engines type them so and stop with an overflow error), a decimal of
  more than 38 digits as Spark counts them (it rounds such a product, DuckDB does not);
- a number literal beyond a 64-bit integer, a DOUBLE or 38 digits, `IN ()`, and `least` or
  `greatest` of one value (Spark refuses them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlglot import exp

from creditline.decisions.features import FEATURES, Feature, FeatureType
from creditline.kernel.money import AMOUNT_MINOR_MAX

INTEGER_MAX = {32: 2**31 - 1, 64: 2**63 - 1}
DECIMAL_DIGITS_MAX = 38  # what both engines hold exactly
_INTEGER_AS_DECIMAL_DIGITS = {32: 10, 64: 20}  # Spark's DECIMAL for INT and BIGINT


class Kind(StrEnum):
    """What a node's values are; Python holds them as int, Decimal, float, bool and str."""

    INTEGER = "integer"
    DECIMAL = "decimal"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    TEXT = "text"
    NULL = "null"  # the NULL literal, or an expression of NULLs only: it takes any type


NUMERIC = (Kind.INTEGER, Kind.DECIMAL, Kind.DOUBLE)
_FEATURE_KINDS = {
    FeatureType.INTEGER: Kind.INTEGER,
    FeatureType.NUMBER: Kind.DOUBLE,
    FeatureType.BOOLEAN: Kind.BOOLEAN,
    FeatureType.CATEGORY: Kind.TEXT,
}


@dataclass(frozen=True, slots=True)
class SqlType:
    """A node's type, with what keeps its arithmetic exact."""

    kind: Kind
    bits: int = 64  # INTEGER: 32 where only 32-bit literals meet
    bound: int = 0  # INTEGER: the largest magnitude it can take
    digits: int = 0  # DECIMAL: precision, as Spark counts it
    scale: int = 0  # DECIMAL: digits after the point

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC


NULL = SqlType(Kind.NULL)
BOOLEAN = SqlType(Kind.BOOLEAN)


class ConditionTypeError(ValueError):
    """A condition SQL would refuse, or would not compute alike on every engine."""


def condition_types(
    condition: exp.Expression, features: Mapping[str, Feature] = FEATURES
) -> dict[int, SqlType]:
    """The type of every node of `condition` over `features`, keyed by `id(node)`;
    `ConditionTypeError` for a condition refused (see the module's docstring)."""
    types: dict[int, SqlType] = {}
    _type(condition, types, features)
    return types


def common_type(types: list[SqlType], what: str) -> SqlType:
    """The one type SQL compares or returns `types` as: DOUBLE over DECIMAL over INTEGER, the
    widest of each; NULLs take any type."""
    known = [t for t in types if t.kind is not Kind.NULL]
    if not known:
        return NULL
    kinds = {t.kind for t in known}
    if len(kinds) > 1 and not kinds <= set(NUMERIC):
        names = " and ".join(sorted(k.value for k in kinds))
        raise ConditionTypeError(f"{what} mixes {names} values; SQL would convert or refuse")
    if Kind.DOUBLE in kinds:
        return SqlType(Kind.DOUBLE)
    if kinds == {Kind.INTEGER}:
        return SqlType(Kind.INTEGER, max(t.bits for t in known), max(t.bound for t in known))
    if kinds == {Kind.DECIMAL} | ({Kind.INTEGER} & kinds):
        decimals = [_as_decimal(t) for t in known]
        scale = max(t.scale for t in decimals)
        return _decimal(max(t.digits - t.scale for t in decimals) + scale, scale, what)
    return known[0]


def _type(node: Any, types: dict[int, SqlType], features: Mapping[str, Feature]) -> SqlType:
    found = _type_of(node, types, features)
    types[id(node)] = found
    return found


def _type_of(node: Any, types: dict[int, SqlType], features: Mapping[str, Feature]) -> SqlType:
    children = [_type(child, types, features) for child in _operands(node)]
    if isinstance(node, exp.Paren):
        return children[0]
    if isinstance(node, exp.Column):
        return _feature_type(features[node.name])
    if isinstance(node, exp.Literal):
        return _literal_type(node)
    if isinstance(node, exp.Boolean):
        return BOOLEAN
    if isinstance(node, exp.Null):
        return NULL
    if isinstance(node, exp.And | exp.Or | exp.Not):
        if any(t.kind not in (Kind.BOOLEAN, Kind.NULL) for t in children):
            raise ConditionTypeError(f"{node.key.upper()} takes true-or-false operands")
        return BOOLEAN
    if isinstance(node, exp.Is):
        return BOOLEAN
    if isinstance(node, exp.In) and not node.expressions:
        raise ConditionTypeError("IN needs at least one value")
    if isinstance(node, exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE | exp.In):
        common_type(children, f"{node.sql('duckdb')!r}")
        return BOOLEAN
    if isinstance(node, exp.Between):
        # Each bound meets the value on its own, as `value >= low AND value <= high`.
        common_type(children[:2], f"{node.sql('duckdb')!r}")
        common_type(children[::2], f"{node.sql('duckdb')!r}")
        return BOOLEAN
    if isinstance(node, exp.Coalesce | exp.Least | exp.Greatest):
        name = node.sql_name().lower()
        if len(children) < 2 and not isinstance(node, exp.Coalesce):
            raise ConditionTypeError(f"{name} needs two values or more (Spark refuses one)")
        return common_type(children, f"{name}(...)")
    return _arithmetic_type(node, children)


def _operands(node: Any) -> list[Any]:
    """A node's operands, in order (a function's arguments, IN's value then its options)."""
    if isinstance(node, exp.Between):
        return [node.this, node.args["low"], node.args["high"]]
    if isinstance(node, exp.Is):
        return [node.this]
    if isinstance(node, exp.In):
        return [node.this, *node.expressions]
    if isinstance(node, exp.Coalesce | exp.Least | exp.Greatest):
        return [node.this, *node.expressions]
    if isinstance(node, exp.Binary):
        return [node.this, node.expression]
    if isinstance(node, exp.Paren | exp.Not | exp.Neg | exp.Abs):
        return [node.this]
    return []


def _feature_type(feature: Feature) -> SqlType:
    kind = _FEATURE_KINDS[feature.type]
    return SqlType(kind, 64, AMOUNT_MINOR_MAX) if kind is Kind.INTEGER else SqlType(kind)


def _literal_type(node: exp.Literal) -> SqlType:
    if node.is_string:
        return SqlType(Kind.TEXT)
    text = node.this.replace("_", "")
    if "e" in text.lower():
        if not math.isfinite(float(text)):
            raise ConditionTypeError(f"the number {node.this} is beyond a DOUBLE")
        return SqlType(Kind.DOUBLE)
    if "." in text:
        integral, fraction = text.split(".")
        return _decimal(max(len(integral.lstrip("0")) + len(fraction), 1), len(fraction), text)
    value = int(text)
    if value > INTEGER_MAX[64]:
        raise ConditionTypeError(f"the number {node.this} is beyond a 64-bit integer")
    return SqlType(Kind.INTEGER, 32 if value <= INTEGER_MAX[32] else 64, value)


def _arithmetic_type(node: Any, children: list[SqlType]) -> SqlType:
    """Negation, abs, `+`, `-` and `*`: numbers only; the result's type and its bounds."""
    name = node.sql("duckdb")
    if any(not t.numeric and t.kind is not Kind.NULL for t in children):
        raise ConditionTypeError(f"{name!r} is arithmetic on a value that is not a number")
    known = [t for t in children if t.kind is not Kind.NULL]
    if len(known) < len(children):  # NULL takes the other operand's type; the value is NULL
        return known[0] if known else NULL
    if isinstance(node, exp.Neg | exp.Abs):
        return children[0]
    left, right = children
    if Kind.DOUBLE in (left.kind, right.kind):
        return SqlType(Kind.DOUBLE)
    if left.kind is Kind.INTEGER and right.kind is Kind.INTEGER:
        bits = max(left.bits, right.bits)
        is_product = isinstance(node, exp.Mul)
        bound = left.bound * right.bound if is_product else left.bound + right.bound
        if bound > INTEGER_MAX[bits]:
            reach = "as SQL types literals" if bits == 32 else "for features up to ±10^15"
            raise ConditionTypeError(
                f"{name!r} may overflow a {bits}-bit integer ({reach}); SQL would stop there"
            )
        return SqlType(Kind.INTEGER, bits, bound)
    left, right = _as_decimal(left), _as_decimal(right)
    if isinstance(node, exp.Mul):
        return _decimal(left.digits + right.digits + 1, left.scale + right.scale, name)
    scale = max(left.scale, right.scale)
    return _decimal(
        max(left.digits - left.scale, right.digits - right.scale) + scale + 1, scale, name
    )


def _as_decimal(found: SqlType) -> SqlType:
    if found.kind is Kind.INTEGER:
        return SqlType(Kind.DECIMAL, digits=_INTEGER_AS_DECIMAL_DIGITS[found.bits])
    return found


def _decimal(digits: int, scale: int, what: str) -> SqlType:
    if digits > DECIMAL_DIGITS_MAX:
        raise ConditionTypeError(
            f"{what!r} needs {digits} decimal digits; SQL keeps {DECIMAL_DIGITS_MAX} exactly"
        )
    return SqlType(Kind.DECIMAL, digits=digits, scale=scale)
