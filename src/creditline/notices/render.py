"""Rendering a notice in the borrower's language from its kind's template.

A template's first line is the subject, the rest the body. Amounts arrive as the decimal
strings the ledger wrote and are only regrouped (never through a float); instants are shown
as the date where the lender does business. An adverse notice carries its jurisdiction's
content (`_rights.<jurisdiction>.<language>.j2`) and names the profile's lender and bureau.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from creditline.kernel.actors import is_automated
from creditline.kernel.money import display_amount
from creditline.kernel.reasons import NEXT_STEP_TEXTS, REASON_CATALOGUE, NextStep
from creditline.ledger.ports import ADVERSE_ACTIONS
from creditline.notices.catalog import LANGUAGES, Kind
from creditline.notices.contacts import Contacts

# Reason codes that name data from the credit-bureau report: a decision that gives one used a
# consumer report, whoever made it (US-4).
BUREAU_REASONS = frozenset(
    {
        "bureau_inquiries",
        "bureau_inquiries_1m",
        "bureau_inquiries_6m",
        "bureau_inquiries_12m",
        "multiple_lenders",
        "other_limits_high",
        "bureau_score_low",
    }
)
# The features a decision's evidence draws from the bureau report (decisions recorded before
# the report itself was kept say through these that one fed them).
BUREAU_FEATURES = (
    "inquiries_1m",
    "inquiries_3m",
    "inquiries_6m",
    "lenders_with_open_loans",
    "other_limits_minor",
    "bureau_score",
)
# FCRA 609(f)(1)(C): at most four key factors; (f)(9): the one about inquiries besides.
KEY_FACTORS_SHOWN_MAX = 4
_ADVERSE = frozenset(action.value for action in ADVERSE_ACTIONS)


@dataclass(frozen=True, slots=True)
class Rendered:
    kind: Kind
    language: str
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """What a line's profile says about its notices: the jurisdiction whose content they
    carry (`_rights.<code>.<language>.j2`), dates, the review deadline, and whom they name
    (None only for a currency no profile covers, whose notices name nobody)."""

    code: str  # CN, US, EU, other
    timezone: ZoneInfo
    review_days: int
    contacts: Contacts | None = None


class Renderer:
    """Notice texts from the templates: every word a borrower reads is in a template (or the
    reason catalogue), so a language or a jurisdiction's wording is data."""

    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("creditline.notices", "templates"),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,  # plain text: e-mail bodies and the inbox's JSON
            # Package data that does not change under a running process: no stat of the
            # template's file at every render (a tenth of composing an e-mail, py-spy).
            auto_reload=False,
        )
        # One environment, so that each template is compiled once (an overlay per render
        # starts with an empty cache and compiles every template again); the filters read the
        # notice's language and time zone from the context.
        self._env.filters["money"] = _money_filter
        self._env.filters["day"] = _day_filter

    def render(
        self,
        kind: Kind,
        language: str,
        *,
        line: dict[str, Any],
        payload: dict[str, Any],
        jurisdiction: Jurisdiction,
        evidence: dict[str, Any] | None = None,
    ) -> Rendered:
        """The notice's subject and body; `evidence` is the decision's, when it has one."""
        if language not in LANGUAGES:
            raise ValueError(f"no notices in {language!r}")
        zone = jurisdiction.timezone
        decision = payload.get("decision")
        contacts = jurisdiction.contacts
        change = policy_change(payload, language, zone)
        context = {
            "lang": language,
            "zone": zone,
            "jurisdiction": jurisdiction.code,
            "review_days": jurisdiction.review_days,
            "lender": None if contacts is None else contacts.lender,
            "bureau": None if contacts is None else contacts.bureau,
            "line": line,
            "payload": payload,
            "decision": None if decision is None else _decision(decision, language, zone),
            "action": adverse_action(payload),
            # Who decided: GDPR Art. 22 and PIPL Art. 24 rights are about automated decisions
            # (a policy change to come is the policy's, automated).
            "automated": is_automated((decision or {}).get("actor") or "") or change is not None,
            "pending": change is not None,  # a change announced ahead of its date
            "change": change,
            "report": consumer_report(decision, evidence, zone),
        }
        text = self._env.get_template(f"{kind.value}.{language}.j2").render(context)
        subject, _, body = text.strip().partition("\n")
        return Rendered(kind, language, subject.strip(), _tidy(body))


def adverse_action(payload: dict[str, Any]) -> str | None:
    """The adverse action a notice states: its decision's, the contested one that a human
    review upheld, or a policy change's to come; None when the notice is about no adverse
    action."""
    if "policy_change" in payload:
        return str(payload["policy_change"]["action"])
    decision = payload.get("decision") or {}
    action = decision.get("action")
    if action == "review":
        action = payload.get("contested_action") if payload.get("outcome") == "uphold" else None
    return action if action in _ADVERSE else None


def consumer_report(
    decision: dict[str, Any] | None, evidence: dict[str, Any] | None, zone: ZoneInfo
) -> dict[str, Any]:
    """Whether a consumer report fed the decision, and what the notice discloses of it
    (US-4): the score, its date and the key factors as the bureau gave them. The report the
    decision recorded says it all; a decision recorded before reports were kept says it
    through its bureau features; a bureau reason says so even with no report on file."""
    evidence = evidence or {}
    features = evidence.get("features") or {}
    codes = (decision or {}).get("reason_codes", [])
    report = evidence.get("consumer_report")
    if report is None:
        used = any(features.get(name) is not None for name in BUREAU_FEATURES) or any(
            code in BUREAU_REASONS for code in codes
        )
        return {"used": used, "score": features.get("bureau_score"), "date": None, "factors": []}
    return {
        "used": True,
        "score": report["score"],
        "date": _day(report["reported_at"], zone),
        "factors": disclosed_factors(report["key_factors"]),
    }


def disclosed_factors(factors: list[dict[str, Any]]) -> list[str]:
    """The key factors a notice discloses, in the bureau's order and words: the first four,
    and the bureau's factor about inquiries as a fifth when it is not among them."""
    shown = factors[:KEY_FACTORS_SHOWN_MAX]
    if not any(factor["inquiries"] for factor in shown):
        shown += [factor for factor in factors[KEY_FACTORS_SHOWN_MAX:] if factor["inquiries"]][:1]
    return [factor["text"] for factor in shown]


def policy_change(payload: dict[str, Any], language: str, zone: ZoneInfo) -> dict[str, Any] | None:
    """A policy change to come, as its notice shows it: its reasons in the borrower's words and
    the day it takes effect where the lender does business (None for any other notice)."""
    change = payload.get("policy_change")
    if change is None:
        return None
    shown = _decision({"reason_codes": change["reason_codes"], "until": None}, language, zone)
    steps = [
        s
        for s in shown["steps"]
        if s != NEXT_STEP_TEXTS[NextStep.REQUEST_REVIEW][0 if language == "en" else 1]
    ]
    return {
        **change,
        "effective_at": _day(payload["effective_at"], zone),
        "reasons": shown["reasons"],
        "steps": steps,
    }


def _decision(decision: dict[str, Any], language: str, zone: ZoneInfo) -> dict[str, Any]:
    reasons = [REASON_CATALOGUE[c] for c in decision["reason_codes"] if c in REASON_CATALOGUE]
    steps: list[str] = []
    for reason in reasons:
        kind = reason.next_step
        if kind is NextStep.WAIT_UNTIL and not decision.get("until"):
            kind = NextStep.REQUEST_REVIEW  # nothing ends by itself: a review is the way back
        step = NEXT_STEP_TEXTS[kind][0 if language == "en" else 1]
        if kind is NextStep.WAIT_UNTIL:
            on = _day(decision["until"], zone)
            step += f" ({on})" if language == "en" else f"({on})"
        if kind is not NextStep.NONE and step not in steps:
            steps.append(step)
    return {
        **decision,
        "reasons": [
            {"code": r.code, "text": r.text_en if language == "en" else r.text_zh} for r in reasons
        ],
        "steps": steps,
    }


@jinja2.pass_context
def _money_filter(context: jinja2.runtime.Context, amount: Any, currency: str) -> str:
    return display_amount(str(amount), currency, context["lang"])


@jinja2.pass_context
def _day_filter(context: jinja2.runtime.Context, instant: Any) -> str:
    return _day(instant, context["zone"])


def _day(instant: Any, zone: ZoneInfo) -> str:
    if instant is None:
        return "—"
    moment = instant if isinstance(instant, datetime) else datetime.fromisoformat(str(instant))
    return moment.astimezone(zone).date().isoformat()


def _tidy(body: str) -> str:
    """No runs of blank lines where optional sections were left out."""
    lines = [line.rstrip() for line in body.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out) + "\n"
