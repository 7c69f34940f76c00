"""The decisions capability's reads for portfolio reports: Core queries over its own tables
(and the ledger's published ones), for the portfolio room to join by line.

A line's score and grade at a time are those of the latest scorecard decision about it before
then: the application that opened it, or a review that changed it (both keep the score and
grade in their evidence).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, case, cast, func, select, union_all

from creditline.db.portable import json_member
from creditline.decisions.tables import applications, reviews
from creditline.ledger.portfolio_views import decision_evidence, decision_scores

# What a copy of the book needs of the decisions' tables, by table.
SOURCES: dict[str, Select[Any]] = {
    "applications": select(
        applications.c.id,
        applications.c.line_id,
        applications.c.outcome,
        applications.c.evidence,
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
    line_id, at, score, grade (parsed from the evidence once, for `line_scores`)."""
    a = applications.c
    score = cast(json_member(a.evidence, "score"), Integer)
    opened = select(
        a.line_id,
        a.created_at.label("at"),
        score.label("score"),
        json_member(a.evidence, "grade").label("grade"),
    ).where(a.line_id.is_not(None), score.is_not(None))
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
        .where(e.at < before)
        .subquery("ranked_scores")
    )
    r = ranked.c
    return select(r.line_id, r.score, r.grade).where(r.latest == 1).subquery("line_scores")


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
