""" "Why is my line what it is, and what can I do?" — in plain zh-CN or English.

An explanation reads the line as it stands, its last changes with their reasons, what the
borrower can do about the change that still holds (and by when), and which data fed the last
automated decision, bureau items named one by one (CN-8, US-4). A borrower sees only their own
lines; staff also get each decision's trace (score, grade, bins, rules) and policy. A human
review the borrower asked for is shown with its deadline while it is open, and a policy change
announced for the line (its date, projected limit and reasons) from the day it is approved until
it takes effect: the borrower can ask for a review before then.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from creditline.db.unit_of_work import Database
from creditline.decisions import change_store, policy_store
from creditline.decisions.appeals import Appeals
from creditline.decisions.attributes import LenderAttribute, features_with
from creditline.decisions.features import FEATURES, Feature, FeatureType, Source
from creditline.kernel.actors import Actor, Role
from creditline.kernel.errors import DomainError, InvalidInput
from creditline.kernel.money import display_amount, format_minor
from creditline.kernel.reasons import NEXT_STEP_TEXTS, REASON_CATALOGUE, NextStep
from creditline.ledger.ports import line_document, stored_decision_document
from creditline.ledger.service import LedgerService
from creditline.loans.products import Catalogue

LANGUAGES = ("zh-CN", "en")
CHANGES_SHOWN = 5

_STATUS = {
    "active": ("active", "正常"),
    "frozen": ("frozen", "暂停使用"),
    "suspended": ("suspended", "暂停使用(待核验)"),
    "closed": ("closed", "已关闭"),
}
_ACTIONS = {
    "increase": ("limit raised", "提额"),
    "decrease": ("limit reduced", "降额"),
    "freeze": ("drawing paused", "暂停借款"),
    "unfreeze": ("drawing resumed", "恢复借款"),
    "suspend": ("suspended pending re-verification", "暂停借款(待核验)"),
    "restore": ("restored", "恢复"),
    "close": ("closed", "关闭"),
}
_SOURCES = {
    Source.LEDGER: ("your record with us", "您在本平台的借还款记录"),
    Source.APPLICATION: ("what you told us in your application", "您申请时提供的信息"),
    Source.BUREAU: ("your credit-bureau report (with your consent)", "您授权查询的征信报告"),
    Source.LENDER: ("what we hold on you from your dealings with us", "本机构掌握的您的其他信息"),
}


class Explainer:
    def __init__(
        self,
        ledger: LedgerService,
        appeals: Appeals,
        catalogue: Catalogue,
        db: Database | None = None,
    ) -> None:
        self._ledger = ledger
        self._appeals = appeals
        self._catalogue = catalogue
        self._db = db  # where announced policy changes are read (none: not shown)

    def explain(self, actor: Actor, line_id: str, language: str | None = None) -> dict[str, Any]:
        """The explanation in `language` (default: the line's jurisdiction's)."""
        if language is not None and language not in LANGUAGES:
            raise InvalidInput(f"lang must be one of {', '.join(LANGUAGES)}")
        # A borrower's own line, or staff; read as records, shown through the ledger's views.
        line = line_document(self._ledger.line(actor, line_id))
        language = language or self._language(line["currency"])
        en = language == "en"
        zone = self._zone(line["currency"])
        recorded = self._ledger.decisions_of(actor, line_id, CHANGES_SHOWN)
        changes = [stored_decision_document(d, staff=True) for d in recorded]
        standing = _standing(line, changes)
        latest = next((d for d in recorded if d.automated), None)
        evidence = None if latest is None else latest.evidence
        latest_automated = None if latest is None else {"id": latest.record.id}
        staff = actor.role is not Role.BORROWER
        document: dict[str, Any] = {
            "line_id": line["id"],
            "language": language,
            "state": {
                "status": line["status"],
                "status_text": _STATUS[line["status"]][0 if en else 1],
                "currency": line["currency"],
                "limit": line["limit"],
                "available": line["available"],
                "held": line["held"],
                "outstanding": line["principal_outstanding"],
                "frozen_until": _day(line["frozen_until"], zone),
            },
            "summary": _summary(line, standing, zone, en),
            "changes": [_change(c, zone, en, staff) for c in changes],
            "what_you_can_do": _steps(line, standing, zone, en),
            "data_used": []
            if evidence is None
            else data_used(evidence, line["currency"], self._features(evidence), en),
            "human_review": self._appeals.open_review_of(line["id"]),
            "pending_policy_change": self._pending(line, zone, en),
        }
        if document["pending_policy_change"] is not None and not any(
            step["step"] == NextStep.REQUEST_REVIEW.value for step in document["what_you_can_do"]
        ):
            document["what_you_can_do"].append(_step(NextStep.REQUEST_REVIEW, line, zone, en))
        if staff and evidence is not None:
            document["trace"] = {
                "decision_id": latest_automated["id"] if latest_automated else None,
                "policy": evidence.get("policy"),
                "score": evidence.get("score"),
                "grade": evidence.get("grade"),
                "decisive_rule": evidence.get("decisive_rule"),
                "attributes": evidence.get("trace", {}).get("attributes"),
                "rules": evidence.get("trace", {}).get("rules"),
            }
        return document

    def _features(self, evidence: dict[str, Any]) -> Mapping[str, Feature]:
        """What the deciding policy read: creditline's features and, when the decision saw
        others, the lender attributes that policy carries, with their wording."""
        if self._db is None or set(evidence.get("features") or {}) <= set(FEATURES):
            return FEATURES
        label = policy_store.split(str(evidence.get("policy")))
        with self._db.reading() as connection:
            document = policy_store.stored_document(connection, label) or {}
        attributes = document.get("attributes") or []
        return features_with(LenderAttribute.model_validate(a) for a in attributes)

    def _pending(self, line: dict[str, Any], zone: ZoneInfo, en: bool) -> dict[str, Any] | None:
        """The policy change announced for this line and still to come, from the day it was
        approved: when, the limit it projects, why, and what the borrower can do before."""
        if self._db is None:
            return None
        with self._db.reading() as connection:
            pending = change_store.pending_of_line(connection, line["id"])
        if not pending:
            return None
        row = pending[0]
        change = json.loads(row["change"])
        codes = [c for c in change["reason_codes"] if c in REASON_CATALOGUE]
        return {
            "policy": f"{row['policy_id']}@{row['version']}",
            "action": change["action"],
            "action_text": _ACTIONS[change["action"]][0 if en else 1],
            "announced_at": _day(row["announced_at"], zone),
            "effective_at": _day(row["effective_at"], zone),
            "limit_today": change["limit_before"],
            "projected_limit": change["limit_after"],
            "reasons": [
                {
                    "code": code,
                    "text": REASON_CATALOGUE[code].text_en
                    if en
                    else REASON_CATALOGUE[code].text_zh,
                }
                for code in codes
            ],
            "what_you_can_do": _before_a_change(line["id"], en),
        }

    def _language(self, currency: str) -> str:
        try:
            return self._catalogue.profile_for(currency).language
        except DomainError:
            return "en"

    def _zone(self, currency: str) -> ZoneInfo:
        try:
            return self._catalogue.profile_for(currency).timezone
        except DomainError:
            return ZoneInfo("UTC")


# What a borrower can do before an announced policy change takes effect: each counts, since
# the line is decided again on that day with what is known then.
_BEFORE_A_CHANGE = (
    (
        "repay",
        "Repay: each repayment of principal makes that much available again",
        "还款:每归还一笔本金,相应额度即恢复可用",
        "GET /v1/lines/{line}/loans",
    ),
    (
        "re_verify",
        "Re-verify: send up-to-date income or identity evidence",
        "重新核验:提交最新的收入或身份证明",
        "POST /v1/verifications",
    ),
    (
        NextStep.REQUEST_REVIEW.value,
        "Ask for a review: a person looks at your line before the change takes effect",
        "申请复核:工作人员将在调整生效前复核您的额度",
        "POST /v1/lines/{line}/reviews",
    ),
)


def _before_a_change(line_id: str, en: bool) -> list[dict[str, Any]]:
    return [
        {"step": step, "text": text_en if en else text_zh, "path": path.format(line=line_id)}
        for step, text_en, text_zh, path in _BEFORE_A_CHANGE
    ]


def _standing(line: dict[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The adverse change that still holds: the one that set the status, or the latest cut."""
    if line["status"] != "active":
        return next((c for c in changes if c["id"] == line["status_decision_id"]), None)
    latest = changes[0] if changes else None
    return latest if latest is not None and latest["adverse"] else None


def _summary(line: dict[str, Any], standing: Any, zone: ZoneInfo, en: bool) -> str:
    money = _money(line["currency"], en)
    status = line["status"]
    reasons = _reason_list(standing, en)
    if status == "active":
        text = (
            f"Your line is active: you can draw {money(line['available'])} of your "
            f"{money(line['limit'])} limit."
            if en
            else f"您的额度正常:授信 {money(line['limit'])},当前可用 {money(line['available'])}。"
        )
        if standing is not None:
            text += (
                f" It was last reduced because: {reasons}." if en else f"上次降额原因:{reasons}。"
            )
        if line.get("fully_used"):
            text += (
                " Your limit now equals what you owe, so new drawdowns wait until you repay: "
                "each repayment of principal makes that much available again."
                if en
                else "您的授信额度现等于您尚未归还的金额,需还款后才能再次借款:"
                "每归还一笔本金,相应额度即恢复可用。"
            )
        return text
    if status == "frozen":
        until = _day(line["frozen_until"], zone)
        return (
            f"Drawing on your line is paused until {until}; your limit of "
            f"{money(line['limit'])} is kept. Why: {reasons}."
            if en
            else f"您的额度暂停借款至 {until},授信额度 {money(line['limit'])} 保留不变。"
            f"原因:{reasons}。"
        )
    if status == "suspended":
        return (
            f"Drawing on your line is suspended; your limit of {money(line['limit'])} is kept, "
            f"not cleared. Why: {reasons}."
            if en
            else f"您的额度暂停借款,授信额度 {money(line['limit'])} 为您保留,并未清零。"
            f"原因:{reasons}。"
        )
    return (
        f"Your line is closed. Why: {reasons}." if en else f"您的额度账户已关闭。原因:{reasons}。"
    )


def _reason_list(decision: Any, en: bool) -> str:
    if decision is None:
        return "—"
    texts = [r["en" if en else "zh-CN"] for r in decision["reasons"]]
    return "; ".join(texts) if en else ";".join(texts)


def _change(change: dict[str, Any], zone: ZoneInfo, en: bool, staff: bool) -> dict[str, Any]:
    out = {
        "decision_id": change["id"],
        "at": _day(change["at"], zone),
        "action": change["action"],
        "action_text": _ACTIONS[change["action"]][0 if en else 1],
        "adverse": change["adverse"],
        "limit_before": change["limit_before"],
        "limit_after": change["limit_after"],
        "until": _day(change["until"], zone),
        "reasons": [
            {"code": r["code"], "text": r["en" if en else "zh-CN"]} for r in change["reasons"]
        ],
        "automated": change["automated"],
    }
    if staff:
        out["policy_version"] = change["policy_version"]
        out["actor"] = change.get("actor")
    return out


def _steps(line: dict[str, Any], standing: Any, zone: ZoneInfo, en: bool) -> list[dict[str, Any]]:
    """What the borrower can do about the change that holds, each with its date or path."""
    if standing is None:
        return []
    steps: list[dict[str, Any]] = []
    seen: set[NextStep] = set()
    for code in standing["reason_codes"]:
        reason = REASON_CATALOGUE.get(code)
        if reason is None:
            continue
        step = reason.next_step
        if step is NextStep.WAIT_UNTIL and not line["frozen_until"]:
            step = NextStep.REQUEST_REVIEW
        if step is NextStep.NONE or step in seen:
            continue
        seen.add(step)
        steps.append(_step(step, line, zone, en))
    if NextStep.REQUEST_REVIEW not in seen:
        steps.append(_step(NextStep.REQUEST_REVIEW, line, zone, en))
    return steps


def _step(step: NextStep, line: dict[str, Any], zone: ZoneInfo, en: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"step": step.value, "text": NEXT_STEP_TEXTS[step][0 if en else 1]}
    if step is NextStep.WAIT_UNTIL:
        out["until"] = _day(line["frozen_until"], zone)
    elif step in (NextStep.UPDATE_INCOME, NextStep.VERIFY_IDENTITY):
        kind = "income" if step is NextStep.UPDATE_INCOME else "identity"
        out["path"] = "POST /v1/verifications"
        out["body"] = {"kind": kind, "line_id": line["id"]}
    elif step is NextStep.REQUEST_REVIEW:
        out["path"] = f"POST /v1/lines/{line['id']}/reviews"
        out["body"] = {"human": True, "reason_text": "…"}
    elif step is NextStep.REPAY_OVERDUE:
        out["path"] = f"GET /v1/lines/{line['id']}/loans"
    return out


def data_used(
    evidence: dict[str, Any], currency: str, known: Mapping[str, Feature], en: bool
) -> list[dict[str, Any]]:
    """The features the last automated decision saw, by source, each named (as `known` names
    them: creditline's features and the policy's lender attributes) and valued."""
    features = evidence.get("features") or {}
    groups: list[dict[str, Any]] = []
    for source in (Source.BUREAU, Source.LEDGER, Source.APPLICATION, Source.LENDER):
        items = []
        for name, feature in known.items():
            value = features.get(name)
            if feature.source is not source or value is None:
                continue
            items.append(
                {
                    "feature": name,
                    "label": feature.labels[0 if en else 1],
                    "value": _value(feature, value, currency, en),
                }
            )
        if items:
            groups.append(
                {
                    "source": source.value,
                    "source_text": _SOURCES[source][0 if en else 1],
                    "items": items,
                }
            )
    return groups


def _value(feature: Feature, value: Any, currency: str, en: bool) -> str:
    if feature.name.endswith("_minor"):
        return str(_money(currency, en)(format_minor(int(value), currency)))
    if feature.name not in FEATURES and feature.type is FeatureType.NUMBER:
        return f"{value:g}"  # a lender attribute's number, as it was given
    if feature.type is FeatureType.NUMBER:
        return f"{round(100 * float(value))}%"  # a ratio shown as a whole percentage
    if feature.type is FeatureType.BOOLEAN:
        return ("yes" if value else "no") if en else ("是" if value else "否")
    return str(value)


def _money(currency: str, en: bool) -> Any:
    language = "en" if en else "zh-CN"
    return lambda amount: display_amount(amount, currency, language)


def _day(instant: Any, zone: ZoneInfo) -> str | None:
    if instant is None:
        return None
    moment = instant if isinstance(instant, datetime) else datetime.fromisoformat(str(instant))
    return moment.astimezone(zone).date().isoformat()
