"""A drawdown's price at its product (`creditline.loans.quote`): what a quote answers, a hold
keeps and a posted loan carries."""

from __future__ import annotations

from pydantic import Field

from creditline.api.documents import Day, Document, Money, Percent


class QuotedInstalment(Document):
    number: int
    due_date: Day
    payment: Money
    principal: Money
    interest: Money
    fee: Money
    balance_after: Money


class Price(Document):
    """A drawdown's price at its product: schedule, totals, APR first (the APRC first where
    the profile caps it), the rate and its day count, the cap it was checked against."""

    aprc_percent: Percent | None = Field(
        default=None, description="where the profile discloses the APRC (EU): shown first"
    )
    currency: str
    principal: Money
    term_months: int
    method: str
    start_date: Day
    apr_percent: Percent
    effective_annual_rate_percent: Percent
    upfront_fee: Money
    instalment_fee: Money
    total_interest: Money
    total_fees: Money
    total_cost: Money
    total_repaid: Money
    instalments: list[QuotedInstalment]
    annual_rate_percent: Percent | None = Field(default=None, description="an annual rate")
    daily_rate_percent: Percent | None = Field(default=None, description="or a daily rate")
    day_count: str
    product: str
    profile: str
    apr_cap_percent: Percent
    rate_cap_basis: str
