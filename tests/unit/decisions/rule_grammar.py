"""Rule conditions from the whole grammar a policy's lint admits, policies made of them, and
feature rows with missing values: the inputs of `test_evaluators_agree`.

The grammar is every construct `decisions/conditions.py` allows: AND, OR, NOT, the six
comparisons (also spelled `==`, `!=`), BETWEEN (and NOT, and SYMMETRIC), IN and NOT IN (with
NULL among the options), IS [NOT] NULL, the NULL, TRUE and FALSE literals, integer, decimal and
exponent literals, negation, `+`, `-`, `*`, and coalesce, abs, least and greatest, over every
feature type (integers, ratios, booleans, categories), with and without parentheses. Rows hold
NULLs and values that meet the literals exactly, and doubles at the edges (-0.0, the smallest
subnormal, the largest finite).

Every choice is drawn from a `Draw`: hypothesis's, which shrinks a failure to a small example,
or a seeded `random.Random`'s, which makes hundreds of cases for one Spark job. Both walk the
same grammar. A `chance` that comes out false, and the first of a `pick`'s options, are always
the simpler way: that is where hypothesis shrinks to.

Integer arithmetic is kept within 64 bits for every value a feature may hold (|v| <= 10^15) and
within 32 bits where only literals meet (as both SQL engines type them), and a decimal within
the 38 digits Spark keeps exactly; past those, SQL stops with an error instead of deciding.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from creditline.decisions.attributes import LenderAttribute, features_with
from creditline.decisions.features import FeatureType
from creditline.kernel.money import AMOUNT_MINOR_MAX

T = TypeVar("T")

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
DECIMAL_DIGITS_MAX = 38
DEPTH_MAX = 3

# A lender's own attributes of each type beside creditline's features: a rule reads them alike.
LENDER_ATTRIBUTES = [
    LenderAttribute.model_validate(
        {
            "name": name,
            "type": kind,
            "categories": categories,
            "source": "batch",
            "data_category": "credit_applications",
            "operator_text": f"The lender's {name}.",
            "label_en": name,
            "label_zh": name,
        }
    )
    for name, kind, categories in (
        ("lender_rate", "numeric", []),
        ("lender_flag", "boolean", []),
        ("lender_term", "categorical", ["36 months", "60 months", "it's"]),
    )
]
FEATURES = features_with(LENDER_ATTRIBUTES)
FEATURES_OF = {kind: [n for n, f in FEATURES.items() if f.type is kind] for kind in FeatureType}
# Literals and row values meet often on these (a bound of BETWEEN, an option of IN).
MEETING = (0, 1, 30)
INTEGERS = (0, 1, 2, 3, 5, 7, 30, 31, 100, -1, -3, 10_000, INT32_MAX, 2**31, 2**53 + 1)
DECIMALS = ("0.5", "0.3", "0.1", "1.5", "0.33333333", "2.25", "0.10000000000000001", "30.0", "7.")
EXPONENTS = ("1e0", "3e-1", "1.5E0", "1e308", "2.5e-1", "1e-300")
DOUBLES = (
    0.0,
    0.5,
    0.3,
    0.1,
    1.0,
    -0.0,
    0.30000000000000004,
    0.7,
    1.5,
    7.0,
    30.0,
    0.10000000000000001,
    1e308,
    -1e308,
    5e-324,
    1.7976931348623157e308,
    math.nextafter(0.5, 1.0),
    math.nextafter(0.3, 0.0),
)
WORDS = ("employed", "student", "retired", "self_employed", "unemployed", "", "it's", "Émile")
WORDS += ("36 months", "60 months")
ADVERSE_REASONS = (
    "overdue_payment",
    "multiple_lenders",
    "drawdown_velocity",
    "utilisation_high",
    "fraud_suspected",
    "bureau_inquiries",
)
LIMIT_FACTORS = ("0.5", "0.33333333", "0.9999999999999999", "0.01", "0.123456789012", "0.7")


class Draw(Protocol):
    def pick(self, options: Sequence[T]) -> T: ...

    def number(self, low: int, high: int) -> int: ...

    def chance(self, percent: int) -> bool: ...


class RandomDraw:
    """Choices from a seeded `random.Random`."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def number(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, percent: int) -> bool:
        return self.rng.randrange(100) < percent


class HypothesisDraw:
    """Choices from hypothesis (`st.data()`'s draw), which shrinks them on a failure."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        from hypothesis import strategies as st

        self._draw, self._st = draw, st

    def pick(self, options: Sequence[T]) -> T:
        return self._draw(self._st.sampled_from(options))  # type: ignore[no-any-return]

    def number(self, low: int, high: int) -> int:
        return self._draw(self._st.integers(low, high))  # type: ignore[no-any-return]

    def chance(self, percent: int) -> bool:
        return self._draw(self._st.integers(0, 99)) >= 100 - percent  # type: ignore[no-any-return]


# --- expressions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expr:
    """A generated expression: its text, its kind, and what keeps its arithmetic exact."""

    sql: str
    kind: str  # integer, decimal, double, boolean, text, null
    atomic: bool = True  # a name or a literal: no parentheses needed around it
    bound: int = 0  # integers: the largest magnitude it can take
    literal_only: bool = False  # integers: no feature in it (SQL types it 32-bit)
    digits: int = 0  # decimals: precision as Spark counts it (an integer counts 20)
    scale: int = 0


NULL = Expr("NULL", "null")
NUMERIC = ("integer", "decimal", "double")


def wrapped(draw: Draw, expression: Expr) -> str:
    """The expression as an operand: in parentheses, unless atomic or (rarely) left bare for
    the parser's precedence to decide."""
    if expression.atomic or draw.chance(10):
        return expression.sql
    return f"({expression.sql})"


def integer_literal(draw: Draw) -> Expr:
    value = draw.pick(MEETING) if not draw.chance(50) else draw.pick(INTEGERS)
    if draw.chance(20):
        value = draw.number(-1000, 1000)
    text = str(value) if value >= 0 else f"-{-value}"
    if value >= 0 and draw.chance(5):
        text = "00" + text  # leading zeros
    return Expr(text, "integer", value >= 0, abs(value), True)


def decimal_literal(draw: Draw) -> Expr:
    text = draw.pick(DECIMALS)
    if draw.chance(30):
        text = f"{draw.number(0, 999)}.{draw.number(0, 99):02d}"
    if draw.chance(15):
        text = "-" + text
    integral, _, fraction = text.lstrip("-").partition(".")
    return Expr(
        text,
        "decimal",
        not text.startswith("-"),
        digits=len(integral + fraction),
        scale=len(fraction),
    )


def double_literal(draw: Draw) -> Expr:
    return Expr(draw.pick(EXPONENTS), "double")


def numeric_leaf(draw: Draw, kind: str) -> Expr:
    if draw.chance(4):
        return NULL
    if kind == "integer":
        if draw.chance(55):
            return Expr(
                draw.pick(FEATURES_OF[FeatureType.INTEGER]), "integer", bound=AMOUNT_MINOR_MAX
            )
        return integer_literal(draw)
    if kind == "double":
        if draw.chance(70):
            return Expr(draw.pick(FEATURES_OF[FeatureType.NUMBER]), "double")
        return double_literal(draw)
    return decimal_literal(draw)


def numeric(draw: Draw, depth: int) -> Expr:
    """A number (or NULL) of any kind."""
    kind = draw.pick(NUMERIC)
    if depth <= 0 or not draw.chance(45):
        return numeric_leaf(draw, kind)
    shape = draw.pick(("arithmetic", "function", "negation"))
    if shape == "negation":
        inner = numeric(draw, depth - 1)
        return _joined(
            "-" + wrapped(draw, inner) if not inner.sql.startswith("-") else f"-({inner.sql})",
            [inner],
            "negation",
        )
    if shape == "function":
        name = draw.pick(("coalesce", "least", "greatest", "abs", "COALESCE", "Greatest"))
        count = 1 if name == "abs" else draw.number(1 if name.lower() == "coalesce" else 2, 3)
        arguments = [numeric(draw, depth - 1) for _ in range(count)]
        return _joined(f"{name}({', '.join(a.sql for a in arguments)})", arguments, name.lower())
    left, right = numeric(draw, depth - 1), numeric(draw, depth - 1)
    operator = draw.pick(("+", "-", "*"))
    return _joined(
        f"{wrapped(draw, left)} {operator} {wrapped(draw, right)}", [left, right], operator
    )


def _joined(sql: str, parts: list[Expr], how: str) -> Expr:
    """The kind and the bounds of an expression made of `parts`; "invalid" when its arithmetic
    could leave what SQL computes exactly (the caller then draws again)."""
    known = [p for p in parts if p.kind != "null"]
    if not known:
        return Expr(sql, "null", False)
    kinds = {p.kind for p in known}
    if kinds - set(NUMERIC):
        return Expr(sql, "invalid", False)
    literal_only = all(p.literal_only or p.kind == "null" for p in parts)
    if "double" in kinds:
        return Expr(sql, "double", False)
    if kinds == {"integer"}:
        bounds = [p.bound for p in known]
        bound = (
            math.prod(bounds) if how == "*" else sum(bounds) if how in ("+", "-") else max(bounds)
        )
        limit = INT32_MAX if literal_only else INT64_MAX
        return Expr(sql, "integer" if bound <= limit else "invalid", False, bound, literal_only)
    as_decimal = [(p.digits, p.scale) if p.kind == "decimal" else (20, 0) for p in known]
    if how == "*" and len(as_decimal) == 2:
        digits, scale = as_decimal[0][0] + as_decimal[1][0] + 1, as_decimal[0][1] + as_decimal[1][1]
    else:
        scale = max(s for _, s in as_decimal)
        digits = max(d - s for d, s in as_decimal) + scale + (1 if how in ("+", "-") else 0)
    if digits > DECIMAL_DIGITS_MAX:
        return Expr(sql, "invalid", False)
    return Expr(sql, "decimal", False, digits=digits, scale=scale)


def valid_numeric(draw: Draw, depth: int) -> Expr:
    """A number whose arithmetic SQL computes exactly (drawn again until it is)."""
    for _ in range(20):
        candidate = numeric(draw, depth)
        if candidate.kind != "invalid":
            return candidate
    return numeric_leaf(draw, "integer")


def text(draw: Draw) -> Expr:
    if draw.chance(50):
        return Expr(draw.pick(FEATURES_OF[FeatureType.CATEGORY]), "text")
    if draw.chance(20):
        first, second = text(draw), text(draw)
        name = draw.pick(("coalesce", "least", "greatest"))
        return Expr(f"{name}({first.sql}, {second.sql})", "text", True)
    if draw.chance(5):
        return NULL
    return Expr("'" + draw.pick(WORDS).replace("'", "''") + "'", "text")


def condition(draw: Draw, depth: int = DEPTH_MAX) -> Expr:
    """A true-or-false expression (or NULL where SQL's three-valued logic makes it one)."""
    if depth > 0 and draw.chance(45):
        shape = draw.pick(("AND", "OR", "NOT"))
        if shape == "NOT":
            inner = condition(draw, depth - 1)
            return Expr(f"NOT {wrapped(draw, inner)}", "boolean", False)
        left, right = condition(draw, depth - 1), condition(draw, depth - 1)
        return Expr(f"{wrapped(draw, left)} {shape} {wrapped(draw, right)}", "boolean", False)
    return predicate(draw, depth)


def predicate(draw: Draw, depth: int) -> Expr:
    shape = draw.pick(
        ("compare", "between", "in", "is null", "boolean", "compare text", "compare booleans")
    )
    inner = max(depth - 1, 0)
    if shape == "compare":
        left, right = valid_numeric(draw, inner), valid_numeric(draw, inner)
        return _comparison(draw, left, right)
    if shape == "compare text":
        return _comparison(draw, text(draw), text(draw))
    if shape == "compare booleans":
        return _comparison(draw, boolean_operand(draw, inner), boolean_operand(draw, inner))
    if shape == "between":
        value, low, high = (valid_numeric(draw, inner) for _ in range(3))
        if draw.chance(50):  # on the edges: a feature, bounds that rows meet
            value = Expr(
                draw.pick(FEATURES_OF[FeatureType.INTEGER]), "integer", bound=AMOUNT_MINOR_MAX
            )
            low, high = (Expr(str(draw.pick(MEETING)), "integer", bound=30) for _ in range(2))
        elif draw.chance(15):
            value, low, high = text(draw), text(draw), text(draw)
        how = draw.pick(("BETWEEN", "NOT BETWEEN", "BETWEEN SYMMETRIC"))
        return Expr(
            f"{wrapped(draw, value)} {how} {wrapped(draw, low)} AND {wrapped(draw, high)}",
            "boolean",
            False,
        )
    if shape == "in":
        make = (lambda: text(draw)) if draw.chance(20) else (lambda: valid_numeric(draw, inner))
        value = make()
        options = [make() for _ in range(draw.number(1, 4))]
        how = draw.pick(("IN", "NOT IN"))
        return Expr(
            f"{wrapped(draw, value)} {how} ({', '.join(o.sql for o in options)})", "boolean", False
        )
    if shape == "is null":
        operand = draw.pick((valid_numeric, lambda d, _: text(d), boolean_operand))(draw, inner)
        how = draw.pick(("IS NULL", "IS NOT NULL"))
        return Expr(f"{wrapped(draw, operand)} {how}", "boolean", False)
    return boolean_operand(draw, inner, bare=True)


def boolean_operand(draw: Draw, depth: int, bare: bool = False) -> Expr:
    """A boolean that is not a connective: a boolean feature, TRUE or FALSE, a comparison,
    or coalesce, least or greatest of booleans."""
    if draw.chance(60):
        return Expr(draw.pick(FEATURES_OF[FeatureType.BOOLEAN]), "boolean")
    if draw.chance(40):
        return Expr(draw.pick(("TRUE", "FALSE", "true")), "boolean")
    if bare or depth <= 0 or draw.chance(50):
        left, right = valid_numeric(draw, 0), valid_numeric(draw, 0)
        return _comparison(draw, left, right)
    name = draw.pick(("coalesce", "least", "greatest"))
    inner = [condition(draw, depth - 1) for _ in range(draw.number(1, 3))]
    return Expr(f"{name}({', '.join(i.sql for i in inner)})", "boolean", True)


def _comparison(draw: Draw, left: Expr, right: Expr) -> Expr:
    operator = draw.pick(("=", "<", ">", "<=", ">=", "<>", "!=", "=="))
    return Expr(f"{wrapped(draw, left)} {operator} {wrapped(draw, right)}", "boolean", False)


# --- policies ----------------------------------------------------------------------------------


def rules_of(draw: Draw, conditions: list[str], first_priority: int = 1) -> list[dict[str, Any]]:
    """Rules for `conditions`. Most conditions come as three rules, the condition, its
    negation and whether it is NULL, so the trace shows its three-valued outcome; each rule
    acts in its own way (a cut by a factor with many decimals, a freeze, ...)."""
    rules: list[dict[str, Any]] = []
    for n, when in enumerate(conditions):
        variants = [when]
        if draw.chance(75):
            variants += [f"NOT ({when})", f"({when}) IS NULL"]
        for k, variant in enumerate(variants):
            action = draw.pick(("decrease", "freeze", "suspend", "close"))
            rule: dict[str, Any] = {
                "id": f"rule-{n}-{k}",
                "when": variant,
                "action": action,
                "reason": draw.pick(ADVERSE_REASONS),
                "priority": first_priority + len(rules),
            }
            if action == "decrease":
                rule["limit_factor"] = draw.pick(LIMIT_FACTORS)
            if action == "freeze":
                rule["freeze_days"] = draw.number(1, 366)
            rules.append(rule)
    return rules


def constraints(draw: Draw) -> dict[str, Any]:
    """A policy's constraints: odd steps, factors with many decimals, cool-downs or none."""
    step = draw.pick(("100.00", "0.01", "1.00", "0.07", "33.33", "10000.00"))
    return {
        "max_limit": draw.pick(("200000.00", "66000000.66", "10000000000000.00")),
        "min_limit": draw.pick(("500.00", "0.00", "0.07")),
        "limit_step": step,
        "max_increase_factor": draw.pick(("1.5", "1.33333333", "1.0000001", "3")),
        "cooldown_days": draw.pick((30, 0)),
        "no_increase_after_cut_days": draw.pick((90, 0)),
        "increase_reason": "good_repayment_history",
    }


# --- rows --------------------------------------------------------------------------------------


def feature_value(draw: Draw, name: str) -> Any:
    """A value of the feature, or None (NULL) about a third of the time."""
    feature = FEATURES[name]
    if draw.chance(35):
        return None
    if feature.type is FeatureType.INTEGER:
        if draw.chance(20):
            return draw.number(-AMOUNT_MINOR_MAX, AMOUNT_MINOR_MAX) // 10 ** draw.number(0, 14)
        value = draw.pick(MEETING) if not draw.chance(50) else draw.pick(INTEGERS)
        return value if value <= AMOUNT_MINOR_MAX else AMOUNT_MINOR_MAX
    if feature.type is FeatureType.NUMBER:
        if draw.chance(10):
            return draw.number(-5, 40)  # a ratio given as an integer: DOUBLE all the same
        return draw.pick(DOUBLES) * (-1 if draw.chance(10) else 1)
    if feature.type is FeatureType.BOOLEAN:
        return draw.pick((True, False))
    return draw.pick(feature.categories)


def limit_value(draw: Draw) -> int:
    if draw.chance(30):
        return draw.number(0, 10**12)
    return draw.pick((6_600_000_066, 1_000_000, 0, 1, 9_999, 10_000, 50_000_000, AMOUNT_MINOR_MAX))


def features_named(texts: Iterable[str]) -> set[str]:
    """The features the texts (conditions) name."""
    words = set(re.findall(r"[a-z_0-9]+", " ".join(texts)))
    return words & set(FEATURES)


def feature_row(draw: Draw, line_id: str, names: Iterable[str] = FEATURES) -> dict[str, Any]:
    """A line's features: `names` drawn (with NULLs), the others NULL; always a limit."""
    row: dict[str, Any] = {"line_id": line_id} | {name: None for name in FEATURES}
    for name in FEATURES:
        if name in names:
            row[name] = feature_value(draw, name)
    row["limit_minor"] = limit_value(draw)
    if row["used_minor"] is not None:
        row["used_minor"] = draw.pick((0, row["limit_minor"], row["limit_minor"] // 3, 1))
    if draw.chance(40):  # recent changes, or none: the cool-downs on both sides of their edge
        row["days_since_cut"] = draw.pick((None, 0, 29, 30, 89, 90))
        row["days_since_limit_change"] = draw.pick((None, 0, 29, 30, 365))
    return row
