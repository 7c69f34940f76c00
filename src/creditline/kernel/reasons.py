"""The reason-code catalogue: every limit or status change names 1–4 of these.

Codes are stable identifiers; texts are what a borrower or an operator reads. `adverse` codes
explain a change that reduces what a borrower can draw; the others explain a restoration or an
increase; a `borrower_initiated` code may explain either. Wording follows bureau reason codes:
specific and principal, never "internal standards".
"""

from __future__ import annotations

from dataclasses import dataclass

REASON_CODES_PER_DECISION_MAX = 4


@dataclass(frozen=True, slots=True)
class ReasonCode:
    code: str
    adverse: bool
    text_en: str
    text_zh: str
    # A borrower's own request may explain a reduction as well as an increase.
    borrower_initiated: bool = False


_CATALOGUE = (
    ReasonCode(
        "utilisation_high",
        True,
        "Proportion of balances to credit limits is too high",
        "已用额度占授信额度的比例过高",
    ),
    ReasonCode(
        "drawdown_velocity", True, "Too many drawdowns in a short period", "短期内借款次数过多"
    ),
    ReasonCode(
        "application_velocity",
        True,
        "Too many credit applications in the last 7 days",
        "近7天信贷申请次数过多",
    ),
    ReasonCode(
        "multiple_lenders",
        True,
        "Loans outstanding at too many lenders",
        "在多家机构有未结清借款(多头借贷)",
    ),
    ReasonCode(
        "bureau_inquiries",
        True,
        "Too many credit inquiries in the last 3 months",
        "近3个月征信查询次数过多",
    ),
    ReasonCode(
        "bureau_inquiries_1m",
        True,
        "Too many credit inquiries in the last month",
        "近1个月征信查询次数过多",
    ),
    ReasonCode(
        "bureau_inquiries_6m",
        True,
        "Too many credit inquiries in the last 6 months",
        "近6个月征信查询次数过多",
    ),
    ReasonCode(
        "overdue_payment", True, "A payment on this account is past due", "本账户有逾期未还款项"
    ),
    ReasonCode(
        "reverification_due",
        True,
        "Identity or income re-verification is due",
        "需要重新核验身份或收入信息",
    ),
    ReasonCode("income_unverified", True, "Income could not be verified", "收入信息未能核实"),
    ReasonCode(
        "policy_change",
        True,
        "The lender's credit policy for this product changed",
        "本产品的授信政策已调整",
    ),
    ReasonCode(
        "fraud_suspected",
        True,
        "Unusual activity on the account is being reviewed",
        "账户存在异常活动,正在核查",
    ),
    ReasonCode(
        "regulatory_cap", True, "The limit would exceed a regulatory cap", "额度超出监管上限"
    ),
    ReasonCode(
        "short_history",
        True,
        "Length of time the account has been established is too short",
        "在本平台的借还款记录时间较短",
    ),
    ReasonCode(
        "income_insufficient",
        True,
        "Income insufficient for the amount of credit",
        "收入不足以支持该额度",
    ),
    ReasonCode(
        "late_payments_history",
        True,
        "Payments were late in the last 12 months",
        "近12个月有逾期还款记录",
    ),
    ReasonCode(
        "bureau_score_low",
        True,
        "Credit bureau score too low",
        "征信评分偏低",
    ),
    ReasonCode(
        "other_limits_high",
        True,
        "Total credit limits at other lenders are too high",
        "在其他机构的授信总额过高",
    ),
    ReasonCode(
        "borrower_request",
        False,
        "Changed at the borrower's request",
        "应借款人申请调整",
        borrower_initiated=True,
    ),
    ReasonCode("good_repayment_history", False, "Consistent on-time repayment", "一贯按时还款"),
    ReasonCode(
        "application_approved",
        False,
        "Your application met the lender's credit policy",
        "您的申请符合授信政策",
    ),
    ReasonCode("income_verified", False, "Income was verified", "收入已核实"),
    ReasonCode("verification_completed", False, "Re-verification was completed", "重新核验已完成"),
    ReasonCode(
        "review_upheld_appeal",
        False,
        "A human review upheld the borrower's appeal",
        "人工复核支持了借款人的申诉",
    ),
    ReasonCode(
        "freeze_ended", False, "The temporary freeze reached its end date", "临时冻结已到期"
    ),
    ReasonCode(
        "risk_resolved",
        False,
        "The risk that caused the earlier change was resolved",
        "此前导致调整的风险因素已消除",
    ),
    ReasonCode(
        "account_closed_by_borrower",
        False,
        "Closed at the borrower's request",
        "应借款人申请关闭",
        borrower_initiated=True,
    ),
)

REASON_CATALOGUE: dict[str, ReasonCode] = {reason.code: reason for reason in _CATALOGUE}
