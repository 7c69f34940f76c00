"""Rendering a notice in the borrower's language from its kind's template.

A template's first line is the subject, the rest the body. Amounts arrive as the decimal
strings the ledger wrote and are only regrouped (never through a float); instants are shown
as the date where the lender does business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from creditline.kernel.money import display_amount
from creditline.kernel.reasons import NEXT_STEP_TEXTS, REASON_CATALOGUE, NextStep
from creditline.notices.catalog import LANGUAGES, Kind

# Reason codes that come from the credit-bureau report (US-4: key factors).
BUREAU_REASONS = frozenset(
    {
        "bureau_inquiries",
        "bureau_inquiries_1m",
        "bureau_inquiries_6m",
        "multiple_lenders",
        "other_limits_high",
        "bureau_score_low",
    }
)
BUREAU_FEATURES = (
    "inquiries_1m",
    "inquiries_3m",
    "inquiries_6m",
    "lenders_with_open_loans",
    "other_limits_minor",
    "bureau_score",
)
_ACTION_TEXT = {
    "decrease": "reduced the limit of",
    "freeze": "paused drawing on",
    "suspend": "suspended drawing on",
    "close": "closed",
}


@dataclass(frozen=True, slots=True)
class Rendered:
    kind: Kind
    language: str
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """What a line's profile says about its notices."""

    code: str  # CN, US, EU, other
    timezone: ZoneInfo
    review_days: int


@dataclass(frozen=True, slots=True)
class Bureau:
    """Who to name when a consumer report fed a decision (US-4)."""

    contact: str
    score_range: str


class Renderer:
    def __init__(self, lender: str, bureau: Bureau) -> None:
        self._lender = lender
        self._bureau = bureau
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("creditline.notices", "templates"),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,  # plain text: e-mail bodies and the inbox's JSON
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
        context = {
            "lang": language,
            "zone": zone,
            "lender": self._lender,
            "jurisdiction": jurisdiction.code,
            "review_days": jurisdiction.review_days,
            "line": line,
            "payload": payload,
            "decision": None if decision is None else _decision(decision, language, zone),
            "action_text": _ACTION_TEXT.get((decision or {}).get("action", ""), "changed"),
            "report": self._report(decision, evidence),
        }
        text = self._env.get_template(f"{kind.value}.{language}.j2").render(context)
        subject, _, body = text.strip().partition("\n")
        return Rendered(kind, language, subject.strip(), _tidy(body))

    def _report(self, decision: Any, evidence: dict[str, Any] | None) -> dict[str, Any]:
        features = (evidence or {}).get("features") or {}
        used = any(features.get(name) is not None for name in BUREAU_FEATURES)
        codes = (decision or {}).get("reason_codes", [])
        factors = [REASON_CATALOGUE[c].text_en for c in codes if c in BUREAU_REASONS]
        # US-4: up to four key factors, five when inquiries are one of them.
        limit = 5 if any(c.startswith("bureau_inquiries") for c in codes) else 4
        return {
            "used": used,
            "score": features.get("bureau_score"),
            "range": self._bureau.score_range,
            "contact": self._bureau.contact,
            "factors": factors[:limit],
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
