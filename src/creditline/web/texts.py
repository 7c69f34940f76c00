"""What the pages say, in English and Chinese: the words of the pages, and a friendly message
for each stable error code (the codes of the API's problem documents)."""

from __future__ import annotations

from typing import Any

from creditline.kernel.errors import DomainError
from creditline.web.portfolio_texts import PORTFOLIO_TEXTS
from creditline.web.staff_texts import STAFF_TEXTS

LANGUAGES = ("zh-CN", "en")
LANGUAGE_DEFAULT = "zh-CN"
LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English"}

# key: (English, Chinese)
TEXTS: dict[str, tuple[str, str]] = {
    "site": ("creditline", "creditline 额度"),
    "skip": ("Skip to the content", "跳到正文"),
    "nav": ("Main menu", "主菜单"),
    "my_lines": ("My lines", "我的额度"),
    "inbox": ("Inbox", "消息"),
    "verify": ("Re-verify income", "收入重新核验"),
    "sign_out": ("Sign out", "退出登录"),
    "switch_language": ("Language", "语言"),
    "signed_in_as": ("Signed in as", "当前用户"),
    # sign-in
    "sign_in": ("Sign in", "登录"),
    "sign_in_dev": (
        "Development sign-in: pick a role and a subject. The pages act with the same token "
        "as creditline token prints.",
        "开发环境登录:选择角色并填写用户标识。页面使用与 creditline token 相同的令牌。",
    ),
    "sign_in_sso": (
        "Sign in through the lender's single sign-on. The sign-on gateway in front of "
        "creditline passes your token to every page as an Authorization: Bearer header.",
        "请通过贷款机构的统一登录(SSO)登录。creditline 前端的登录网关会在每个页面请求中以 "
        "Authorization: Bearer 请求头传递您的令牌。",
    ),
    "role": ("Role", "角色"),
    "subject": ("Subject (borrower id or staff name)", "用户标识(借款人编号或员工名)"),
    "session_expired": (
        "Your session has ended. Please sign in again.",
        "登录已过期,请重新登录。",
    ),
    # lines
    "limit": ("Limit", "授信额度"),
    "available": ("Available", "可用额度"),
    "outstanding": ("Owed (principal)", "未还本金"),
    "held": ("Held for drawdowns", "借款处理中"),
    "status": ("Status", "状态"),
    "no_lines": ("You have no credit line yet.", "您还没有额度。"),
    "line": ("Credit line", "额度账户"),
    "draw": ("Borrow", "借款"),
    "why": ("Why is my line what it is?", "为什么我的额度是这样?"),
    "ask_review": ("Ask for a review", "申请复核"),
    "loans": ("Loans", "借款记录"),
    "no_loans": ("No loans on this line yet.", "该额度暂无借款。"),
    "until": ("Until", "截至"),
    "what_you_can_do": ("What you can do", "您可以做什么"),
    "details": ("Details", "详情"),
    # draw and quote
    "amount": ("Amount", "金额"),
    "amount_hint": ("A plain number, such as 5000.00", "请输入数字,例如 5000.00"),
    "term": ("Term", "期限"),
    "months": ("months", "个月"),
    "get_quote": ("See the cost", "查看费用"),
    "quote": ("What this loan costs", "借款费用"),
    "apr": ("Annual percentage rate (APR)", "年化利率(APR)"),
    "apr_note": (
        "The APR counts the interest and every fee, per year.",
        "年化利率已包含利息及全部费用,按年计算。",
    ),
    "monthly_payment": ("First monthly payment", "首期还款"),
    "total_interest": ("Total interest", "利息合计"),
    "total_fees": ("Total fees", "费用合计"),
    "total_cost": ("Total cost of credit", "借款总成本"),
    "total_repaid": ("Total you repay", "还款总额"),
    "upfront_fee": ("Fee taken at drawdown", "放款时收取的服务费"),
    "you_receive": ("You receive", "到账金额"),
    "schedule": ("Repayment schedule", "还款计划"),
    "number": ("No.", "期数"),
    "due_date": ("Due", "还款日"),
    "payment": ("Payment", "应还"),
    "principal": ("Principal", "本金"),
    "interest": ("Interest", "利息"),
    "fee": ("Fee", "服务费"),
    "paid": ("Paid", "已还"),
    "state": ("State", "状态"),
    "confirm_draw": ("Confirm and borrow", "确认借款"),
    "change": ("Change the amount or term", "修改金额或期限"),
    "not_within_available": (
        "This is more than your available credit.",
        "该金额超过您的可用额度。",
    ),
    "drawn": ("Your loan is made: the money is on its way.", "借款成功,款项正在发放。"),
    # loans
    "loan": ("Loan", "借款"),
    "open": ("open", "未结清"),
    "settled": ("settled", "已结清"),
    "payoff_today": ("Pay off today", "今日结清金额"),
    "next_due": ("Next payment", "下期还款"),
    "overdue": ("Overdue", "逾期"),
    "days_past_due": ("days past due", "天逾期"),
    "repay": ("Repay", "还款"),
    "repay_amount": ("Amount to repay", "还款金额"),
    "repaid": ("Thank you: your repayment is recorded.", "还款成功。"),
    "repaid_settled": (
        "Thank you: the loan is settled and its credit is available again.",
        "还款成功,借款已结清,相应额度已恢复。",
    ),
    "state_paid": ("paid", "已还"),
    "state_due": ("due", "待还"),
    "state_running": ("current", "本期"),
    "state_overdue": ("overdue", "逾期"),
    "state_scheduled": ("upcoming", "未到期"),
    # explanation
    "changes": ("Last changes", "最近的额度变化"),
    "reasons": ("Reasons", "原因"),
    "data_used": ("What the last decision looked at", "最近一次决策使用的信息"),
    "human_review_open": (
        "A person is reviewing your line; answer by",
        "人工复核进行中,最迟答复日期",
    ),
    "limit_change": ("Limit", "额度"),
    "automated": ("automatic decision", "系统自动决策"),
    "by_person": ("decided by a person", "人工决策"),
    # review
    "review_title": ("Ask for a review of your line", "申请重新评估额度"),
    "review_auto": (
        "Review it now with the current policy (automatic)",
        "按现行政策立即重新评估(自动)",
    ),
    "review_human": (
        "Ask a person to review the decision as well",
        "同时申请人工复核",
    ),
    "review_kind": ("Who reviews it", "复核方式"),
    "reason_text": ("Why you ask (optional)", "申请理由(选填)"),
    "statement": (
        "Your own view, for the person who reviews it (optional)",
        "您的说明,供复核人员参考(选填)",
    ),
    "send": ("Send", "提交"),
    "review_sent": ("Your request is recorded.", "您的申请已提交。"),
    "review_outcome": ("The automatic review", "自动评估结果"),
    # inbox
    "no_notices": ("No messages.", "暂无消息。"),
    "mark_read": ("Mark as read", "标为已读"),
    "unread": ("unread", "未读"),
    "read": ("read", "已读"),
    # verification
    "verify_title": ("Send new income evidence", "提交新的收入证明"),
    "verify_intro": (
        "A line suspended for re-verification comes back by itself when the evidence checks "
        "out; no new application is needed.",
        "因待核验而暂停的额度,在核验通过后自动恢复,无需重新申请。",
    ),
    "income_monthly": ("Monthly income", "月收入"),
    "document_id": ("Document number (payslip, tax record …)", "证明文件编号(工资单、纳税记录等)"),
    "issued_on": ("Issued on", "开具日期"),
    "expires_on": ("Valid until", "有效期至"),
    "which_line": ("For which line", "适用额度"),
    "all_lines": ("All my lines", "我的全部额度"),
    "verify_accepted": ("Your evidence is accepted.", "您的收入证明已通过核验。"),
    "verify_rejected": ("Your evidence was not accepted", "您的收入证明未通过核验"),
    "identity_title": ("Verify your identity", "身份核验"),
    "identity_intro": (
        "A line held for an identity check comes back by itself when the check passes; no "
        "new application is needed.",
        "因身份核验而暂停的额度,在核验通过后自动恢复,无需重新申请。",
    ),
    "document_type": ("Document", "证件类型"),
    "document_id_card": ("Resident identity card", "居民身份证"),
    "document_passport": ("Passport", "护照"),
    "document_number": ("Document number", "证件号码"),
    "full_name": ("Full name, as on the document", "姓名(与证件一致)"),
    "identity_accepted": ("Your identity is verified.", "您的身份已核验通过。"),
    "identity_rejected": ("Your identity could not be verified", "您的身份未能通过核验"),
    # errors
    "error": ("Something went wrong", "出错了"),
    "back": ("Back", "返回"),
}
TEXTS |= STAFF_TEXTS  # the console's words live beside its pages
TEXTS |= PORTFOLIO_TEXTS

# code: (English, Chinese) — the friendly words for a problem document's stable code.
ERRORS: dict[str, tuple[str, str]] = {
    "unauthenticated": ("Please sign in.", "请先登录。"),
    "token_expired": ("Your session has ended. Please sign in again.", "登录已过期,请重新登录。"),
    "csrf_refused": (
        "This form has expired or came from elsewhere. Please try again.",
        "表单已失效或来源不明,请重试。",
    ),
    "forbidden": ("You may not do this.", "您无权进行此操作。"),
    "not_found": ("We could not find that.", "未找到相关内容。"),
    "line_not_found": ("We could not find that line.", "未找到该额度。"),
    "loan_not_found": ("We could not find that loan.", "未找到该借款。"),
    "notice_not_found": ("We could not find that message.", "未找到该消息。"),
    "invalid_input": ("Please check what you entered.", "请检查您填写的内容。"),
    "invalid_amount": (
        "Please enter the amount as a plain number, such as 5000.00.",
        "请输入正确的金额,例如 5000.00。",
    ),
    "insufficient_available_credit": (
        "That is more than your available credit.",
        "借款金额超过您的可用额度。",
    ),
    "line_frozen": (
        "Borrowing on this line is paused for now; your limit is kept.",
        "该额度暂停借款,授信额度为您保留。",
    ),
    "line_suspended": (
        "Borrowing on this line is suspended until your income is re-verified.",
        "该额度暂停借款,完成收入重新核验后即可恢复。",
    ),
    "line_closed": ("This line is closed.", "该额度已关闭。"),
    "loan_settled": ("This loan is already settled.", "该借款已结清。"),
    "drawdown_expired": (
        "The offer expired before it was confirmed. Please ask for a new quote.",
        "借款确认超时,请重新获取报价。",
    ),
    "drawdown_not_held": ("This drawdown is no longer pending.", "该笔借款已不在处理中。"),
    "apr_above_cap": (
        "This loan would cost more than the law allows.",
        "该借款的年化利率超过规定上限。",
    ),
    "idempotency_key_reused": (
        "This form was already sent with other values. Please start again.",
        "该表单已用不同内容提交过,请重新开始。",
    ),
    "rate_limited": (
        "You have asked many times recently. Please try again later.",
        "您近期申请次数过多,请稍后再试。",
    ),
    "busy": ("We are busy. Please try again in a moment.", "系统繁忙,请稍后再试。"),
    "invalid_evidence": ("Please check the evidence you entered.", "请检查您填写的证明信息。"),
    "review_already_decided": ("This review is already decided.", "该复核已有结论。"),
    "conflict": ("This cannot be done now.", "当前无法进行此操作。"),
}
# A verification's problem code: what is wrong with the evidence (as its notice says it).
VERIFICATION_PROBLEMS: dict[str, tuple[str, str]] = {
    "incomplete": ("the evidence is incomplete", "材料不完整"),
    "future_dated": ("the document is dated in the future", "证明的出具日期晚于今天"),
    "expired": ("the document has expired", "证明已过期"),
    "too_long": ("income evidence is valid for a year at most", "收入证明的有效期最长一年"),
    "not_positive": ("the income must be more than zero", "收入须大于零"),
    "currency": ("the evidence is in another currency than your line", "证明的币种与您的额度不符"),
    "document_type": (
        "the document must be an identity card or a passport",
        "证件须为居民身份证或护照",
    ),
}
_ERROR_DEFAULT = ("Something went wrong; nothing was changed.", "操作未完成,未做任何更改。")


def text(key: str, lang: str) -> str:
    """The words of `key` in `lang` (a missing key is a bug: it raises)."""
    english, chinese = TEXTS[key]
    return english if lang == "en" else chinese


def error_message(error: DomainError, lang: str) -> str:
    """A friendly message for a rejection, by its stable code (its kind's when the code has no
    words of its own), in `lang`."""
    for kind in type(error).__mro__:
        code = getattr(kind, "code", None)
        if code in ERRORS:
            english, chinese = ERRORS[code]
            return english if lang == "en" else chinese
    english, chinese = _ERROR_DEFAULT
    return english if lang == "en" else chinese


def verification_problem(code: str | None, lang: str) -> str:
    """What is wrong with refused evidence, by its problem code, in `lang`."""
    english, chinese = VERIFICATION_PROBLEMS.get(code or "", ("not accepted", "未通过核验"))
    return english if lang == "en" else chinese


def reasons_of(error: DomainError, lang: str) -> list[str]:
    """The reasons a rejection names (a frozen line's), in `lang`."""
    reasons: Any = error.details.get("reasons") or []
    return [str(r.get(lang) or r.get("en")) for r in reasons if isinstance(r, dict)]
