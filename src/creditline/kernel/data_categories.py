"""Categories of personal data a credit policy may read, for a profile's allow-list (EU-1).

Every feature a policy reads belongs to exactly one category (`decisions/features.py`); a
jurisdiction profile may list the categories its creditworthiness assessments may use, and the
policy lint refuses a policy of that profile that reads anything else.

The EU profile follows the Consumer Credit Directive (EU) 2023/2225, Art. 18(3): the
assessment rests on relevant and accurate information on the consumer's income and expenses
and other financial and economic circumstances; special categories of data (GDPR Art. 9(1)),
data from social media and health data are never used. No feature of creditline reads the
categories in `NEVER_FOR_CREDITWORTHINESS`; they are named so that a profile listing one of
them is refused when the catalogue is loaded.
"""

from __future__ import annotations

from enum import StrEnum


class DataCategory(StrEnum):
    """What kind of fact about a borrower a feature is."""

    INCOME = "income"  # declared or verified income, and its evidence
    EMPLOYMENT = "employment"  # employment status: where the income comes from
    EXPENSES = "expenses"  # committed monthly outgoings: payments on other debts
    REPAYMENT_HISTORY = "repayment_history"  # how instalments have been repaid
    ACCOUNT_USE = "account_use"  # this line: its limit, balances, drawdowns, age, changes
    CREDIT_APPLICATIONS = "credit_applications"  # requests for credit made to this lender
    CREDIT_BUREAU = "credit_bureau"  # credit at other lenders and inquiries, from the bureau
    CREDIT_SCORE = "credit_score"  # a score the bureau computed
    DEMOGRAPHIC = "demographic"  # age and other personal characteristics
    SPECIAL_CATEGORY = "special_category"  # GDPR Art. 9(1): origin, beliefs, health, ...
    SOCIAL_MEDIA = "social_media"
    HEALTH = "health"


# Data no creditworthiness assessment may use (CCD 2023/2225 Art. 18(3); GDPR Art. 9(1)).
NEVER_FOR_CREDITWORTHINESS = frozenset(
    {DataCategory.SPECIAL_CATEGORY, DataCategory.SOCIAL_MEDIA, DataCategory.HEALTH}
)
