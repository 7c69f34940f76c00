"""The decisions capability's reads for portfolio reports: Core queries over its own tables
(and the ledger's published ones), for the portfolio room to join by line.

A line's score and grade at a time are those of the latest scorecard decision about it before
then: the application that opened it, or a review that changed it (both keep the score and
grade in their evidence).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, and_, case, cast, func, or_, select, union_all

from creditline.db.portable import json_member
from creditline.decisions.tables import (
    applications,
    policy_simulation_lines,
    policy_simulations,
    policy_steps,
    policy_versions,
    reviews,
)
from creditline.ledger.portfolio_views import decision_evidence, decision_scores

# What a copy of the book needs of the decisions' tables, by table.
SOURCES: dict[str, Select[Any]] = {
    "applications": select(
        applications.c.id,
        applications.c.line_id,
        applications.c.outcome,
        applications.c.evidence,
        applications.c.region,
        applications.c.created_at,
    ),
    "reviews": select(
        reviews.c.id,
        reviews.c.line_id,
        reviews.c.kind,
        reviews.c.created_at,
        reviews.c.decided_at,
        reviews.c.due_at,
    ),
}


def score_events() -> Any:
    """Every scorecard decision about a line, the application that opened it or a review:
    line_id, at, score, grade (parsed from the evidence once, for `line_scores`). An
    application's score may be null (an evidence without one): `line_scores` skips it, so
    that each evidence is parsed once per member, not again to filter."""
    a = applications.c
    opened = select(
        a.line_id,
        a.created_at.label("at"),
        cast(json_member(a.evidence, "score"), Integer).label("score"),
        json_member(a.evidence, "grade").label("grade"),
    ).where(a.line_id.is_not(None))
    return union_all(opened, select(decision_scores())).subquery("score_events")


def line_scores(before: datetime, events: Any = None) -> Any:
    """Per line scored before `before`: line_id, score, grade (the latest; of two at the same
    time, the lower score), from `score_events()` (or `events`, the same read kept by the
    caller)."""
    every = score_events() if events is None else events
    e = every.c
    ranked = (
        select(
            e.line_id,
            e.score,
            e.grade,
            func.row_number()
            .over(partition_by=e.line_id, order_by=(e.at.desc(), e.score, e.grade))
            .label("latest"),
        )
        .where(e.at < before, e.score.is_not(None))
        .subquery("ranked_scores")
    )
    r = ranked.c
    return select(r.line_id, r.score, r.grade).where(r.latest == 1).subquery("line_scores")


def line_regions() -> Any:
    """Each line opened by an application that stated a region: line_id, region."""
    a = applications.c
    return (
        select(a.line_id, a.region)
        .where(a.line_id.is_not(None), a.region.is_not(None))
        .subquery("line_regions")
    )


def human_reviews(before: datetime) -> Any:
    """Human reviews asked for before `before`: review_id, line_id, requested_at, decided_at
    (null when not decided before `before`), due_at."""
    r = reviews.c
    return (
        select(
            r.id.label("review_id"),
            r.line_id,
            r.created_at.label("requested_at"),
            case((r.decided_at < before, r.decided_at)).label("decided_at"),
            r.due_at,
        )
        .where(r.kind == "human", r.created_at < before)
        .subquery("human_reviews")
    )


def scorecard_evidence(since: datetime, before: datetime) -> Any:
    """Everything scored in [since, before), applications declined or not and decisions about
    lines: at, evidence (JSON text: policy, score, grade, trace with each attribute's bin)."""
    a = applications.c
    applied = select(a.created_at.label("at"), a.evidence).where(
        a.created_at >= since, a.created_at < before, a.evidence.is_not(None)
    )
    decided = decision_evidence(since, before)
    return union_all(applied, select(decided.c.at, decided.c.evidence)).subquery("scored_evidence")


def policy_changes_in(start: datetime, end: datetime, currency: str) -> Any:
    """Policy versions in `currency` approved in [start, end) or taking effect in it, with
    the simulation their approval rests on: policy_id, version, approved_at, effective_at,
    retired_at (null unless retired since), simulation_id, lines_total, adverse_count."""
    s = policy_steps.c
    retired = (
        select(s.policy_id, s.version, func.min(s.at).label("retired_at"))
        .where(s.state == "retired")
        .group_by(s.policy_id, s.version)
        .subquery("retired_versions")
    )
    v = policy_versions.c
    sim = policy_simulations.c
    return (
        select(
            s.policy_id,
            s.version,
            s.at.label("approved_at"),
            s.effective_at,
            retired.c.retired_at,
            s.simulation_id,
            sim.lines_total,
            sim.adverse_count,
        )
        .select_from(
            policy_steps.join(policy_versions, and_(v.id == s.policy_id, v.version == s.version))
            .join(policy_simulations, sim.id == s.simulation_id)
            .outerjoin(
                retired,
                and_(retired.c.policy_id == s.policy_id, retired.c.version == s.version),
            )
        )
        .where(
            s.state == "approved",
            v.currency == currency,
            or_(
                and_(s.at >= start, s.at < end),
                and_(s.effective_at >= start, s.effective_at < end),
            ),
        )
        .subquery("policy_changes_in")
    )


def simulated_changes() -> Any:
    """Each line a simulation found adversely affected and the change it projected:
    simulation_id, line_id, action, limit_before_minor, limit_after_minor."""
    c = policy_simulation_lines.c
    return select(
        c.simulation_id,
        c.line_id,
        json_member(c.change, "action").label("action"),
        cast(json_member(c.change, "limit_before_minor"), BigInteger).label("limit_before_minor"),
        cast(json_member(c.change, "limit_after_minor"), BigInteger).label("limit_after_minor"),
    ).subquery("simulated_changes")
