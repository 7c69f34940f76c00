"""The reason-code catalogue: every limit or status change names 1–4 of these.

Codes are stable identifiers. Each has what a borrower reads (zh-CN and English, specific and
principal in the style of bureau reason codes, never "internal standards"), what an operator
reads (the feature or rule behind it), and the borrower's next step. `adverse` codes explain a
change that reduces what a borrower can draw; the others explain a restoration or an
increase; a `borrower_initiated` code may explain either. `lint_catalogue` refuses a code
without both languages, an operator text or a next step (an adverse code needs a real one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

REASON_CODES_PER_DECISION_MAX = 4


class NextStep(StrEnum):
    """What a borrower can do about a reason."""

    WAIT_UNTIL = "wait_until"  # it ends by itself on a date
    VERIFY_IDENTITY = "verify_identity"
    UPDATE_INCOME = "update_income"  # new income evidence (POST /v1/verifications)
    REPAY_OVERDUE = "repay_overdue"
    REQUEST_REVIEW = "request_review"  # ask for a review, or for a person to review it
    NONE = "none"  # favourable, or nothing the borrower can change (a regulatory cap)


# What each next step tells the borrower, in both languages.
NEXT_STEP_TEXTS: dict[NextStep, tuple[str, str]] = {
    NextStep.WAIT_UNTIL: (
        "Nothing to do: the line comes back by itself on the date shown",
        "无需操作:额度将在所示日期自动恢复",
    ),
    NextStep.VERIFY_IDENTITY: ("Verify your identity", "请完成身份核验"),
    NextStep.UPDATE_INCOME: (
        "Send new income evidence to re-verify; the line is restored when it checks out",
        "请提交新的收入证明完成重新核验,核验通过后额度自动恢复",
    ),
    NextStep.REPAY_OVERDUE: (
        "Repay the overdue amount; the line is reviewed again once it is paid",
        "请偿还逾期款项,还清后将重新评估额度",
    ),
    NextStep.REQUEST_REVIEW: (
        "Ask for a review, or for a person to review the decision",
        "可申请重新评估,或申请人工复核",
    ),
    NextStep.NONE: ("Nothing to do", "无需操作"),
}


@dataclass(frozen=True, slots=True)
class ReasonCode:
    code: str
    adverse: bool
    text_en: str
    text_zh: str
    operator_text: str
    next_step: NextStep
    # A borrower's own request may explain a reduction as well as an increase.
    borrower_initiated: bool = False


_CATALOGUE = (
    ReasonCode(
        "utilisation_high",
        adverse=True,
        text_en="Proportion of balances to credit limits is too high",
        text_zh="已用额度占授信额度的比例过高",
        operator_text=(
            "Outstanding principal and holds over the limit above the policy's threshold (feature "
            "utilisation)."
        ),
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "drawdown_velocity",
        adverse=True,
        text_en="Too many drawdowns in a short period",
        text_zh="短期内借款次数过多",
        operator_text=(
            "Drawdowns posted in a short window above the policy's threshold "
            "(drawdowns_7d/30d/90d)."
        ),
        next_step=NextStep.WAIT_UNTIL,
    ),
    ReasonCode(
        "application_velocity",
        adverse=True,
        text_en="Too many credit applications in the last 7 days",
        text_zh="近7天信贷申请次数过多",
        operator_text=(
            "Credit applications in the last 7 days above the policy's threshold (applications_7d)."
        ),
        next_step=NextStep.WAIT_UNTIL,
    ),
    ReasonCode(
        "multiple_lenders",
        adverse=True,
        text_en="Loans outstanding at too many lenders",
        text_zh="在多家机构有未结清借款(多头借贷)",
        operator_text=(
            "Bureau report: other lenders with open loans above the policy's threshold "
            "(lenders_with_open_loans)."
        ),
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "bureau_inquiries",
        adverse=True,
        text_en="Too many credit inquiries in the last 3 months",
        text_zh="近3个月征信查询次数过多",
        operator_text="Bureau report: hard inquiries in 3 months (inquiries_3m).",
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "bureau_inquiries_1m",
        adverse=True,
        text_en="Too many credit inquiries in the last month",
        text_zh="近1个月征信查询次数过多",
        operator_text="Bureau report: hard inquiries in the last month (inquiries_1m).",
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "bureau_inquiries_6m",
        adverse=True,
        text_en="Too many credit inquiries in the last 6 months",
        text_zh="近6个月征信查询次数过多",
        operator_text="Bureau report: hard inquiries in 6 months (inquiries_6m).",
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "overdue_payment",
        adverse=True,
        text_en="A payment on this account is past due",
        text_zh="本账户有逾期未还款项",
        operator_text="A loan on this line is past due (dpd).",
        next_step=NextStep.REPAY_OVERDUE,
    ),
    ReasonCode(
        "reverification_due",
        adverse=True,
        text_en="Identity or income re-verification is due",
        text_zh="需要重新核验身份或收入信息",
        operator_text=(
            "The income evidence on file has expired or identity re-verification is due "
            "(days_to_income_evidence_expiry)."
        ),
        next_step=NextStep.UPDATE_INCOME,
    ),
    ReasonCode(
        "income_unverified",
        adverse=True,
        text_en="Income could not be verified",
        text_zh="收入信息未能核实",
        operator_text="Declared income has no evidence in date (income_evidence).",
        next_step=NextStep.UPDATE_INCOME,
    ),
    ReasonCode(
        "policy_change",
        adverse=True,
        text_en="The lender's credit policy for this product changed",
        text_zh="本产品的授信政策已调整",
        operator_text=(
            "A new policy version changed the outcome; generic: refused by the policy lint."
        ),
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "fraud_suspected",
        adverse=True,
        text_en="Unusual activity on the account is being reviewed",
        text_zh="账户存在异常活动,正在核查",
        operator_text="Fraud checks flagged the account; held for investigation.",
        next_step=NextStep.VERIFY_IDENTITY,
    ),
    ReasonCode(
        "regulatory_cap",
        adverse=True,
        text_en="The limit would exceed a regulatory cap",
        text_zh="额度超出监管上限",
        operator_text="The limit was capped by a jurisdiction cap (policy constraints).",
        next_step=NextStep.NONE,
    ),
    ReasonCode(
        "obligations_excessive",
        adverse=True,
        text_en="Excessive obligations in relation to income",
        text_zh="现有负债的月还款额相对收入过高",
        operator_text=(
            "Ability to pay (US-6): monthly obligations plus the payment on the limit exceed the "
            "profile's debt-to-income maximum (obligations_monthly_minor, income_monthly_minor)."
        ),
        next_step=NextStep.UPDATE_INCOME,
    ),
    ReasonCode(
        "bureau_inquiries_12m",
        adverse=True,
        text_en="Too many credit inquiries in the last 12 months",
        text_zh="近12个月征信查询次数过多",
        operator_text="Bureau report: inquiries in 12 months (a lender attribute).",
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "loan_terms_risk",
        adverse=True,
        text_en="Amount, term or rate of the credit requested carries a higher risk",
        text_zh="所申请借款的金额、期限或利率对应的风险较高",
        operator_text=(
            "The lender's own attributes of the credit requested: its amount, term, rate or "
            "the lender's grade of it."
        ),
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "short_history",
        adverse=True,
        text_en="Length of time the account has been established is too short",
        text_zh="在本平台的借还款记录时间较短",
        operator_text="Few months on book or few settled loans (months_on_book, settled_loans).",
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "income_insufficient",
        adverse=True,
        text_en="Income insufficient for the amount of credit",
        text_zh="收入不足以支持该额度",
        operator_text=(
            "Declared income or employment supports a lower limit (income_monthly_minor, "
            "employment)."
        ),
        next_step=NextStep.UPDATE_INCOME,
    ),
    ReasonCode(
        "late_payments_history",
        adverse=True,
        text_en="Payments were late in the last 12 months",
        text_zh="近12个月有逾期还款记录",
        operator_text="Instalments paid late in the last 12 months (on_time_ratio, max_dpd_12m).",
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "bureau_score_low",
        adverse=True,
        text_en="Credit bureau score too low",
        text_zh="征信评分偏低",
        operator_text="Bureau score below the policy's bins (bureau_score).",
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "other_limits_high",
        adverse=True,
        text_en="Total credit limits at other lenders are too high",
        text_zh="在其他机构的授信总额过高",
        operator_text="Bureau report: total limits at other lenders (other_limits_minor).",
        next_step=NextStep.REQUEST_REVIEW,
    ),
    ReasonCode(
        "borrower_request",
        adverse=False,
        text_en="Changed at the borrower's request",
        text_zh="应借款人申请调整",
        operator_text="Changed at the borrower's request.",
        next_step=NextStep.NONE,
        borrower_initiated=True,
    ),
    ReasonCode(
        "good_repayment_history",
        adverse=False,
        text_en="Consistent on-time repayment",
        text_zh="一贯按时还款",
        operator_text=(
            "Scorecard grade and limit matrix support a higher limit within the constraints."
        ),
        next_step=NextStep.NONE,
    ),
    ReasonCode(
        "application_approved",
        adverse=False,
        text_en="Your application met the lender's credit policy",
        text_zh="您的申请符合授信政策",
        operator_text="Underwriting approved the application at the matrix limit.",
        next_step=NextStep.NONE,
    ),
    ReasonCode(
        "income_verified",
        adverse=False,
        text_en="Income was verified",
        text_zh="收入已核实",
        operator_text="Income evidence was verified.",
        next_step=NextStep.NONE,
    ),
    ReasonCode(
        "verification_completed",
        adverse=False,
        text_en="Re-verification was completed",
        text_zh="重新核验已完成",
        operator_text="A re-verification was completed; the suspension no longer applies.",
        next_step=NextStep.NONE,
    ),
    ReasonCode(
        "review_upheld_appeal",
        adverse=False,
        text_en="A human review upheld the borrower's appeal",
        text_zh="人工复核支持了借款人的申诉",
        operator_text="A human review reversed or modified an automated decision.",
        next_step=NextStep.NONE,
    ),
    ReasonCode(
        "freeze_ended",
        adverse=False,
        text_en="The temporary freeze reached its end date",
        text_zh="临时冻结已到期",
        operator_text="A temporary freeze reached its end date.",
        next_step=NextStep.NONE,
    ),
    ReasonCode(
        "risk_resolved",
        adverse=False,
        text_en="The risk that caused the earlier change was resolved",
        text_zh="此前导致调整的风险因素已消除",
        operator_text="The condition behind an earlier adverse decision no longer holds.",
        next_step=NextStep.NONE,
    ),
    ReasonCode(
        "account_closed_by_borrower",
        adverse=False,
        text_en="Closed at the borrower's request",
        text_zh="应借款人申请关闭",
        operator_text="Closed at the borrower's request.",
        next_step=NextStep.NONE,
        borrower_initiated=True,
    ),
)

REASON_CATALOGUE: dict[str, ReasonCode] = {reason.code: reason for reason in _CATALOGUE}

# Codes that name no factor a borrower could act on (US-3: "internal standards" is not a
# reason). Kept in the catalogue so that old decisions still read, but refused for every new
# decision: by the policy lint for a policy, by the ledger (`reason_not_specific`) for staff.
GENERIC_REASON_CODES = frozenset({"policy_change"})


def is_generic(code: str) -> bool:
    """Whether `code` is too generic to explain a decision (it names no factor)."""
    return code in GENERIC_REASON_CODES


def lint_catalogue(catalogue: tuple[ReasonCode, ...] = _CATALOGUE) -> list[str]:
    """Every problem in the catalogue: a code without both languages, an operator text or a
    next step (an adverse code's next step cannot be `none` unless nothing can be done), or a
    code listed twice."""
    problems = []
    seen: set[str] = set()
    for reason in catalogue:
        if reason.code in seen:
            problems.append(f"{reason.code}: listed twice")
        seen.add(reason.code)
        for field, text in (
            ("text_en", reason.text_en),
            ("text_zh", reason.text_zh),
            ("operator_text", reason.operator_text),
        ):
            if not text.strip():
                problems.append(f"{reason.code}: no {field}")
        if not isinstance(reason.next_step, NextStep):
            problems.append(f"{reason.code}: no next step")
        elif reason.adverse and reason.next_step is NextStep.NONE and reason.code not in _NO_REMEDY:
            problems.append(f"{reason.code}: an adverse reason needs a next step")
    return problems


# Adverse reasons the borrower cannot act on: said plainly rather than given a false remedy.
_NO_REMEDY = frozenset({"regulatory_cap"})


def reason_texts(codes: Iterable[str]) -> list[dict[str, str]]:
    """Each catalogue code with what a borrower reads, in English and Chinese (for documents)."""
    return [
        {"code": c, "en": REASON_CATALOGUE[c].text_en, "zh-CN": REASON_CATALOGUE[c].text_zh}
        for c in codes
        if c in REASON_CATALOGUE
    ]


def catalogue_documents() -> list[dict[str, Any]]:
    """The reason-code catalogue: borrower texts in English and Chinese, the operator's text
    and the borrower's next step."""
    return [
        {
            "code": r.code,
            "adverse": r.adverse,
            "borrower_initiated": r.borrower_initiated,
            "text": {"en": r.text_en, "zh-CN": r.text_zh},
            "operator_text": r.operator_text,
            "next_step": {
                "step": r.next_step.value,
                "en": NEXT_STEP_TEXTS[r.next_step][0],
                "zh-CN": NEXT_STEP_TEXTS[r.next_step][1],
            },
        }
        for r in REASON_CATALOGUE.values()
    ]
