"""The features a policy may read: each with a name, a type, a description and its source.

A policy names features in its scorecard, its limit matrix and its rules; the lint refuses any
other name. Amounts are integer minor units of the line's currency; ratios are decimals in
0–1; counts are integers; `null` means unknown (no bureau report, no application on file).
Each feature names its data category (`creditline.kernel.data_categories`): a jurisdiction
profile may allow only some categories in its policies (EU-1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from creditline.kernel.data_categories import DataCategory


class FeatureType(StrEnum):
    """What kind of value a feature holds."""

    INTEGER = "integer"
    NUMBER = "number"  # a decimal ratio
    BOOLEAN = "boolean"
    CATEGORY = "category"


class Risk(StrEnum):
    """Which way a feature's risk runs: what its adverse reason code says."""

    HIGHER = "higher"  # a higher value is riskier (utilisation, inquiries, lenders)
    LOWER = "lower"  # a lower value is riskier (income, on-time ratio, months on book)


class Source(StrEnum):
    """Where a feature's value comes from."""

    LEDGER = "ledger"  # computed by SQL over our own lines, loans and decisions
    APPLICATION = "application"  # what the borrower declared, with evidence flags
    BUREAU = "bureau"  # the latest consented credit-bureau report
    LENDER = "lender"  # the lender's own attribute, registered as data (`decisions/attributes.py`)


@dataclass(frozen=True, slots=True)
class Feature:
    """A feature a policy may read: its name, type, source and, if scored, its reason."""

    name: str
    type: FeatureType
    source: Source
    description: str
    categories: tuple[str, ...] = ()
    # The adverse reason a scorecard attribute on this feature names, and the direction that
    # reason describes; a fitted scorecard must lose points in that direction only. None: the
    # feature is not scored (it feeds rules and the limit matrix).
    reason: str | None = None
    riskier: Risk | None = None
    # What kind of personal data it is: a profile may allow only some kinds (EU-1).
    data_category: DataCategory = field(kw_only=True)
    # How a borrower reads the name in Chinese; None: `LABELS_ZH` has it (a built-in feature).
    label_zh: str | None = field(default=None, kw_only=True)

    @property
    def labels(self) -> tuple[str, str]:
        """How a borrower reads the feature's name: English, then Chinese."""
        return self.description, self.label_zh or LABELS_ZH[self.name]


EMPLOYMENT = ("employed", "self_employed", "student", "retired", "unemployed")

FEATURES: dict[str, Feature] = {
    feature.name: feature
    for feature in (
        Feature(
            "limit_minor",
            FeatureType.INTEGER,
            Source.LEDGER,
            "The line's current limit.",
            data_category=DataCategory.ACCOUNT_USE,
        ),
        Feature(
            "used_minor",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Outstanding principal plus live holds on the line.",
            data_category=DataCategory.ACCOUNT_USE,
        ),
        Feature(
            "utilisation",
            FeatureType.NUMBER,
            Source.LEDGER,
            "(Outstanding principal + holds) / limit; 0 when no limit.",
            reason="utilisation_high",
            riskier=Risk.HIGHER,
            data_category=DataCategory.ACCOUNT_USE,
        ),
        Feature(
            "drawdowns_7d",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Drawdowns posted in the last 7 days.",
            reason="drawdown_velocity",
            riskier=Risk.HIGHER,
            data_category=DataCategory.ACCOUNT_USE,
        ),
        Feature(
            "drawdowns_30d",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Drawdowns posted in the last 30 days.",
            reason="drawdown_velocity",
            riskier=Risk.HIGHER,
            data_category=DataCategory.ACCOUNT_USE,
        ),
        Feature(
            "drawdowns_90d",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Drawdowns posted in the last 90 days.",
            reason="drawdown_velocity",
            riskier=Risk.HIGHER,
            data_category=DataCategory.ACCOUNT_USE,
        ),
        Feature(
            "applications_7d",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Credit applications by the borrower, last 7 days.",
            reason="application_velocity",
            riskier=Risk.HIGHER,
            data_category=DataCategory.CREDIT_APPLICATIONS,
        ),
        Feature(
            "applications_30d",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Credit applications by the borrower, last 30 days.",
            data_category=DataCategory.CREDIT_APPLICATIONS,
        ),
        Feature(
            "increase_requests_7d",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Limit-increase requests, last 7 days.",
            data_category=DataCategory.CREDIT_APPLICATIONS,
        ),
        Feature(
            "increase_requests_30d",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Limit-increase requests, last 30 days.",
            data_category=DataCategory.CREDIT_APPLICATIONS,
        ),
        Feature(
            "on_time_ratio",
            FeatureType.NUMBER,
            Source.LEDGER,
            "Instalments paid by their due date / instalments fallen due; null with none due.",
            reason="late_payments_history",
            riskier=Risk.LOWER,
            data_category=DataCategory.REPAYMENT_HISTORY,
        ),
        Feature(
            "max_dpd_12m",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Most days past due on any loan in the last 12 months.",
            reason="late_payments_history",
            riskier=Risk.HIGHER,
            data_category=DataCategory.REPAYMENT_HISTORY,
        ),
        Feature(
            "dpd",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Days past due on the line today (its latest loan's).",
            reason="overdue_payment",
            riskier=Risk.HIGHER,
            data_category=DataCategory.REPAYMENT_HISTORY,
        ),
        Feature(
            "months_on_book",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Whole months since the line was opened.",
            reason="short_history",
            riskier=Risk.LOWER,
            data_category=DataCategory.ACCOUNT_USE,
        ),
        Feature(
            "settled_loans",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Loans repaid in full.",
            reason="short_history",
            riskier=Risk.LOWER,
            data_category=DataCategory.REPAYMENT_HISTORY,
        ),
        Feature(
            "days_since_limit_change",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Days since the limit was last set (or opened).",
            data_category=DataCategory.ACCOUNT_USE,
        ),
        Feature(
            "days_since_cut",
            FeatureType.INTEGER,
            Source.LEDGER,
            "Days since the last decrease or freeze (null: none).",
            data_category=DataCategory.ACCOUNT_USE,
        ),
        Feature(
            "income_monthly_minor",
            FeatureType.INTEGER,
            Source.APPLICATION,
            "Declared monthly income.",
            reason="income_insufficient",
            riskier=Risk.LOWER,
            data_category=DataCategory.INCOME,
        ),
        Feature(
            "income_evidence",
            FeatureType.BOOLEAN,
            Source.APPLICATION,
            "The income is backed by evidence that is in date.",
            reason="income_unverified",
            riskier=Risk.LOWER,
            data_category=DataCategory.INCOME,
        ),
        Feature(
            "days_to_income_evidence_expiry",
            FeatureType.INTEGER,
            Source.APPLICATION,
            "Days until the income evidence expires (negative: expired; null: none).",
            data_category=DataCategory.INCOME,
        ),
        Feature(
            "age",
            FeatureType.INTEGER,
            Source.APPLICATION,
            "The borrower's age in whole years.",
            data_category=DataCategory.DEMOGRAPHIC,
        ),
        Feature(
            "employment",
            FeatureType.CATEGORY,
            Source.APPLICATION,
            "Employment status.",
            EMPLOYMENT,
            reason="income_insufficient",
            data_category=DataCategory.EMPLOYMENT,
        ),
        Feature(
            "inquiries_1m",
            FeatureType.INTEGER,
            Source.BUREAU,
            "Hard inquiries at the bureau, last month.",
            reason="bureau_inquiries_1m",
            riskier=Risk.HIGHER,
            data_category=DataCategory.CREDIT_BUREAU,
        ),
        Feature(
            "inquiries_3m",
            FeatureType.INTEGER,
            Source.BUREAU,
            "Hard inquiries at the bureau, last 3 months.",
            reason="bureau_inquiries",
            riskier=Risk.HIGHER,
            data_category=DataCategory.CREDIT_BUREAU,
        ),
        Feature(
            "inquiries_6m",
            FeatureType.INTEGER,
            Source.BUREAU,
            "Hard inquiries at the bureau, last 6 months.",
            reason="bureau_inquiries_6m",
            riskier=Risk.HIGHER,
            data_category=DataCategory.CREDIT_BUREAU,
        ),
        Feature(
            "lenders_with_open_loans",
            FeatureType.INTEGER,
            Source.BUREAU,
            "Other lenders with an open loan (多头).",
            reason="multiple_lenders",
            riskier=Risk.HIGHER,
            data_category=DataCategory.CREDIT_BUREAU,
        ),
        Feature(
            "other_limits_minor",
            FeatureType.INTEGER,
            Source.BUREAU,
            "Total credit limits at other lenders.",
            reason="other_limits_high",
            riskier=Risk.HIGHER,
            data_category=DataCategory.CREDIT_BUREAU,
        ),
        Feature(
            "obligations_monthly_minor",
            FeatureType.INTEGER,
            Source.BUREAU,
            "Monthly payments on other debts: as the bureau reports them, else as the "
            "application states them (null: neither).",
            data_category=DataCategory.EXPENSES,
        ),
        Feature(
            "bureau_score",
            FeatureType.INTEGER,
            Source.BUREAU,
            "The bureau's score.",
            reason="bureau_score_low",
            riskier=Risk.LOWER,
            data_category=DataCategory.CREDIT_SCORE,
        ),
    )
}

# How a borrower reads each feature's name in Chinese (the English is the description).
LABELS_ZH: dict[str, str] = {
    "limit_minor": "授信额度",
    "used_minor": "已用额度(未还本金与冻结中的借款)",
    "utilisation": "额度使用率",
    "drawdowns_7d": "近7天借款次数",
    "drawdowns_30d": "近30天借款次数",
    "drawdowns_90d": "近90天借款次数",
    "applications_7d": "近7天信贷申请次数",
    "applications_30d": "近30天信贷申请次数",
    "increase_requests_7d": "近7天申请复核/提额次数",
    "increase_requests_30d": "近30天申请复核/提额次数",
    "on_time_ratio": "按时还款比例",
    "max_dpd_12m": "近12个月最长逾期天数",
    "dpd": "当前逾期天数",
    "months_on_book": "在本平台的月数",
    "settled_loans": "已结清借款笔数",
    "days_since_limit_change": "距上次额度调整的天数",
    "days_since_cut": "距上次降额或冻结的天数",
    "income_monthly_minor": "申报月收入",
    "income_evidence": "收入证明是否有效",
    "days_to_income_evidence_expiry": "收入证明剩余有效天数",
    "age": "年龄",
    "employment": "就业状况",
    "inquiries_1m": "近1个月征信查询次数",
    "inquiries_3m": "近3个月征信查询次数",
    "inquiries_6m": "近6个月征信查询次数",
    "lenders_with_open_loans": "有未结清借款的其他机构数(多头)",
    "other_limits_minor": "在其他机构的授信总额",
    "obligations_monthly_minor": "其他负债的月还款额",
    "bureau_score": "征信评分",
}
