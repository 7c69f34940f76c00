"""A limit times a policy's factor, floored to its step: the same integers in Python and in SQL.

A cut (`limit_factor`) and an increase (`max_increase_factor`) multiply the limit by a decimal
and floor the result to the policy's step. A DOUBLE division rounds: 6,600,000,066 × 0.33333333
is 2,199,999,999.99999978, which floors to 2,199,990,000 on a step of 10,000 but came out as
2,200,000,000 when DuckDB divided it as a DOUBLE. So the factor is an exact fraction
numerator/denominator and every engine computes floor(limit × numerator / (denominator × step))
in integers (docs/decisions/0019). The lint keeps a factor within 18 digits and 18 decimal
places, so the product fits SQL's 128-bit integers (and Spark's DECIMAL(38, 0)) for any BIGINT.
"""

from __future__ import annotations

from decimal import Decimal

FACTOR_DIGITS_MAX = 18


def floor_to_step(amount_minor: int, factor: Decimal, step_minor: int) -> int:
    """floor(amount × factor / step) × step, exactly (`floor_to_step_sql` in SQL)."""
    numerator, denominator = factor.as_integer_ratio()
    return amount_minor * numerator // (denominator * step_minor) * step_minor


def floor_to_step_sql(amount: str, factor: Decimal, step_minor: int) -> str:
    """`floor_to_step` of the SQL expression `amount`, in integers only: the product less its
    remainder modulo denominator × step (made non-negative, so that it floors below zero too,
    where `%` and `//` truncate) divides exactly."""
    numerator, denominator = factor.as_integer_ratio()
    divisor = denominator * step_minor
    product = f"(CAST({amount} AS HUGEINT) * {numerator})"
    remainder = f"(({product} % {divisor} + {divisor}) % {divisor})"
    return f"CAST(({product} - {remainder}) // {denominator} AS BIGINT)"


def factor_problems(where: str, factor: Decimal | None) -> list[str]:
    """Why `factor` is beyond exact SQL arithmetic (empty: it is not)."""
    if factor is None:
        return []
    _, digits, exponent = factor.normalize().as_tuple()
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if len(digits) > FACTOR_DIGITS_MAX or places > FACTOR_DIGITS_MAX:
        return [f"{where}: at most {FACTOR_DIGITS_MAX} digits and decimal places"]
    return []
