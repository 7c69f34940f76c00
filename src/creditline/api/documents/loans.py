"""Quotes, loans, posted drawdowns, repayments and refunds (`creditline.loans.views`,
`creditline.loans.quote`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from creditline.api.documents import Day, Document, Money, Percent
from creditline.api.documents.lines import Line
from creditline.api.documents.prices import Price

LoanStatus = Literal["open", "settled"]


class Quote(Price):
    """A price on a line, and whether the line has the credit for it now."""

    line_id: str
    available: Money
    within_available: bool


class FundersPart(Document):
    funder: str
    amount: Money


class Posted(Document):
    """A hold posted as a loan: lent, released, paid out (less the upfront fee), who funds it."""

    id: str
    status: Literal["posted"]
    loan_id: str
    amount: Money
    released: Money
    disbursed: Money
    loan: Price
    funding: list[FundersPart]
    line: Line


class LoanSummary(Document):
    id: str
    line_id: str
    status: LoanStatus
    product: str
    currency: str
    principal: Money
    principal_outstanding: Money
    term_months: int
    apr_percent: Percent
    credit_balance: Money
    dpd: int
    bucket: str


class LineLoans(Document):
    line_id: str
    dpd: int = Field(description="the line's days past due: its latest loan's")
    bucket: str
    loans: list[LoanSummary]


class Overdue(Document):
    instalments: list[int]
    amount: Money


class NextDue(Document):
    date: Day
    amount: Money


class Payoff(Document):
    total: Money
    penalty: Money
    fees: Money
    interest: Money
    principal: Money
    reapplied: Money


class Instalment(Document):
    number: int
    due_date: Day
    state: str
    principal: Money
    interest: Money
    fee: Money
    late_fee: Money
    penalty: Money
    paid: Money
    outstanding: Money
    paid_on: Day | None


class Loan(LoanSummary):
    method: str
    start_date: Day
    upfront_fee: Money
    opened_at: str
    settled_at: str | None
    business_date: Day
    grace_days: int
    arrears_order: str
    waterfall: list[str]
    overpayment: str
    prepayment_effect: str
    penalty_charged: Money
    penalty_outstanding: Money
    interest_accrued: Money
    last_end_of_day: Day | None
    overdue: Overdue
    next_due: NextDue | None
    payoff_today: Payoff | None = Field(description="what settles it today; null once settled")
    instalments: list[Instalment]


class Allocation(Document):
    penalty: Money
    fees: Money
    interest: Money
    principal: Money
    prepaid_principal: Money
    reapplied: Money
    credit: Money


class Owing(Document):
    number: int
    due_date: Day
    amount: Money
    principal: Money
    interest: Money
    fee: Money


class Repayment(Document):
    id: str
    loan_id: str
    amount: Money
    business_date: Day
    allocation: Allocation
    loan_status: LoanStatus
    principal_outstanding: Money
    credit_balance: Money
    rescheduled: bool
    schedule: list[Owing] | None = Field(description="the instalments owing, when rescheduled")
    line: Line


class Refund(Document):
    id: str
    loan_id: str
    amount: Money
    business_date: Day
    credit_balance: Money
    line: Line
