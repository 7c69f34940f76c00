"""Who funds a loan (CN-3, joint lending): pure arithmetic on a funding split.

A split gives each funder a share in basis points (1/100 of a percent) summing to 10,000;
`lender` is the lender's own share, which must be at least its profile's minimum. A loan's
principal is split into integer minor units that sum exactly to it: each other funder's
amount is its share of the principal rounded down, and the lender takes the remainder, so
the lender's amount is never below its stated share.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from creditline.kernel.errors import InvalidInput, LenderShareBelowMinimum, UnknownFunder

LENDER = "lender"  # the lender's own share of a split
WHOLE_BASIS_POINTS = 10_000
FUNDERS_PER_LOAN_MAX = 8


def basis_points(percent: str, name: str) -> int:
    """A share written as a decimal percent string ("30.00") in basis points."""
    try:
        value = Decimal(percent) if isinstance(percent, str) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or not 0 < value <= 100:
        raise InvalidInput(f"funding: {name}'s share must be a percent above 0, at most 100")
    points = value * 100
    if points != points.to_integral_value():
        raise InvalidInput(f"funding: {name}'s share has more than two decimals")
    return int(points)


def checked_split(
    shares_percent: Mapping[str, str], funders: frozenset[str], lender_min_basis_points: int
) -> dict[str, int]:
    """A split of decimal percent strings by funder, checked against the profile: its
    funders only, summing to 100 %, the lender's own share at least the minimum."""
    if not 0 < len(shares_percent) <= FUNDERS_PER_LOAN_MAX:
        raise InvalidInput(f"funding names 1 to {FUNDERS_PER_LOAN_MAX} funders")
    unknown = sorted(set(shares_percent) - funders - {LENDER})
    if unknown:
        raise UnknownFunder(
            f"funding names {', '.join(unknown)}: not a funder of this profile",
            funders=sorted(funders),
        )
    split = {name: basis_points(share, name) for name, share in shares_percent.items()}
    if sum(split.values()) != WHOLE_BASIS_POINTS:
        raise InvalidInput("funding shares must add up to 100 %")
    lender = split.get(LENDER, 0)
    if lender < lender_min_basis_points:
        raise LenderShareBelowMinimum(
            f"the lender's own share is {_percent(lender)} %, below the profile's minimum "
            f"of {_percent(lender_min_basis_points)} %",
            lender_share_percent=_percent(lender),
            lender_share_percent_min=_percent(lender_min_basis_points),
        )
    return split


def split_principal(principal_minor: int, split: Mapping[str, int]) -> dict[str, int]:
    """The principal in minor units by funder: each other funder's share rounded down, the
    lender the remainder; the amounts sum exactly to the principal."""
    amounts = {
        name: principal_minor * points // WHOLE_BASIS_POINTS
        for name, points in split.items()
        if name != LENDER
    }
    return {LENDER: principal_minor - sum(amounts.values())} | amounts


def _percent(points: int) -> str:
    return f"{Decimal(points) / 100:.2f}"
