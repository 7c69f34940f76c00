"""What happened in the period before the report's date: limit decisions by week, action and
reason with the freeze, suspend and cut rates; how long a settled loan's credit took to come
back; how long notices of decisions took to be delivered; human reviews against their
deadlines. Set-based queries over the capabilities' published reads, joined by line."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select

from creditline.db.metadata import UtcDateTime
from creditline.db.portable import epoch_ms, int_divide
from creditline.decisions.portfolio_views import human_reviews
from creditline.ledger.portfolio_views import (
    active_entries,
    currency_lines,
    decision_reasons,
    decisions_made,
    line_lifetimes,
)
from creditline.loans.portfolio_views import settlements
from creditline.notices.portfolio_views import notices_delivered
from creditline.portfolio.figures import Durations, ReviewSla, Week
from creditline.portfolio.reads import Reader, keyed, nearest_rank, one, rows, whole

WEEK = dt.timedelta(days=7)
_WEEK_MS = 7 * 24 * 3600 * 1000


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _ms(at: dt.datetime) -> int:
    return (at - _EPOCH) // dt.timedelta(milliseconds=1)


def _week_of(at: Any, cutoff: dt.datetime) -> Any:
    """0 for the seven days before the cutoff, 1 for the seven before those, …"""
    return int_divide(literal(_ms(cutoff)) - epoch_ms(at), literal(_WEEK_MS))


def _in_currency(subquery: Any, currency: str) -> Any:
    lines = currency_lines(currency)
    return subquery.join(lines, lines.c.line_id == subquery.c.line_id)


def weeks(
    reader: Reader, cutoff: dt.datetime, count: int, currency: str, last_day: dt.date
) -> list[Week]:
    """The `count` weeks before the cutoff, newest last."""
    start = cutoff - count * WEEK
    made = decisions_made(start, cutoff)
    m = keyed(
        _week_of(made.c.at, cutoff).label("week"),
        made.c.action,
        made.c.line_id,
        from_=_in_currency(made, currency),
    ).c
    decisions = rows(
        reader,
        select(m.week, m.action, func.count(), func.count(func.distinct(m.line_id))).group_by(
            m.week, m.action
        ),
    )
    named = decision_reasons(start, cutoff)
    n = keyed(
        _week_of(named.c.at, cutoff).label("week"),
        named.c.action,
        named.c.reason_code,
        from_=_in_currency(named, currency),
    ).c
    reasons = rows(
        reader,
        select(n.week, n.action, n.reason_code, func.count()).group_by(
            n.week, n.action, n.reason_code
        ),
    )
    on_book = _lines_on_book(reader, cutoff, count, currency)
    out = []
    for n in reversed(range(count)):
        out.append(
            Week(
                first_day=last_day - dt.timedelta(days=7 * n + 6),
                last_day=last_day - dt.timedelta(days=7 * n),
                lines_on_book=on_book.get(n, 0),
                decisions={str(a): whole(c) for w, a, c, _ in decisions if w == n},
                reasons=_reasons_of(reasons, n),
                lines_by_action={str(a): whole(lines) for w, a, _, lines in decisions if w == n},
            )
        )
    return out


def _reasons_of(found: list[tuple[Any, ...]], week: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for w, action, code, n in found:
        if w == week:
            out.setdefault(str(action), {})[str(code)] = whole(n)
    return out


def _lines_on_book(
    reader: Reader, cutoff: dt.datetime, count: int, currency: str
) -> dict[int, int]:
    """Per week: lines opened before it ended and not closed before it began (one pass)."""
    lives = line_lifetimes()
    c = lives.c

    def alive(week: int) -> Any:
        end = literal(cutoff - week * WEEK, UtcDateTime())
        start = literal(cutoff - (week + 1) * WEEK, UtcDateTime())
        lived = and_(c.opened_at < end, or_(c.closed_at.is_(None), c.closed_at >= start))
        return func.sum(case((lived, 1), else_=0))

    found = one(
        reader, select(*(alive(n) for n in range(count))).select_from(_in_currency(lives, currency))
    )
    return {n: whole(lines) for n, lines in enumerate(found)}


def settlement_to_restored(
    reader: Reader, start: dt.datetime, cutoff: dt.datetime, currency: str
) -> Durations:
    """Loans settled in the period: from settlement to the first journal entry at or after it
    that left the line able to draw (the settlement's own, unless the line was blocked)."""
    settled = settlements(start, cutoff, currency)
    active = active_entries(cutoff)
    restored = (
        select(
            settled.c.loan_id,
            settled.c.settled_at,
            func.min(active.c.at).label("restored_at"),
        )
        .select_from(
            settled.outerjoin(
                active,
                and_(active.c.line_id == settled.c.line_id, active.c.at >= settled.c.settled_at),
            )
        )
        .group_by(settled.c.loan_id, settled.c.settled_at)
        .subquery("restored")
    )
    waiting = one(reader, select(func.count()).where(restored.c.restored_at.is_(None)))
    durations = (
        select((epoch_ms(restored.c.restored_at) - epoch_ms(restored.c.settled_at)).label("ms"))
        .where(restored.c.restored_at.is_not(None))
        .subquery("durations")
    )
    return _durations(reader, durations, whole(waiting[0]))


def _durations(reader: Reader, durations: Any, waiting: int) -> Durations:
    count, p50, p99 = one(reader, nearest_rank(durations))
    return Durations(
        whole(count), None if p50 is None else int(p50), None if p99 is None else int(p99), waiting
    )


def notice_sla(
    reader: Reader, start: dt.datetime, cutoff: dt.datetime, currency: str
) -> tuple[Durations, int]:
    """Decisions made in the period: from the decision to the delivery of its notice; those
    waiting; and those with no notice at all (each should have one)."""
    made = decisions_made(start, cutoff)
    told = notices_delivered(cutoff)
    joined = _in_currency(made, currency).outerjoin(told, told.c.ref_id == made.c.decision_id)
    without, waiting = one(
        reader,
        select(
            func.sum(case((told.c.ref_id.is_(None), 1), else_=0)),
            func.sum(
                case((and_(told.c.ref_id.is_not(None), told.c.delivered_at.is_(None)), 1), else_=0)
            ),
        ).select_from(joined),
    )
    durations = (
        select((epoch_ms(told.c.delivered_at) - epoch_ms(made.c.at)).label("ms"))
        .select_from(joined)
        .where(told.c.delivered_at.is_not(None))
        .subquery("durations")
    )
    return _durations(reader, durations, whole(waiting)), whole(without)


def review_sla(reader: Reader, start: dt.datetime, cutoff: dt.datetime, currency: str) -> ReviewSla:
    """Human reviews: asked for in the period, decided in it (how long each took, and those
    decided after their deadline), and open at the cutoff (those past their deadline)."""
    reviews = human_reviews(cutoff)
    r = _in_currency(reviews, currency)
    c = reviews.c
    decided_in_period = and_(c.decided_at.is_not(None), c.decided_at >= start)
    requested, late, open_now, overdue = one(
        reader,
        select(
            func.sum(case((c.requested_at >= start, 1), else_=0)),
            func.sum(case((and_(decided_in_period, c.decided_at > c.due_at), 1), else_=0)),
            func.sum(case((c.decided_at.is_(None), 1), else_=0)),
            func.sum(case((and_(c.decided_at.is_(None), c.due_at < cutoff), 1), else_=0)),
        ).select_from(r),
    )
    durations = (
        select((epoch_ms(c.decided_at) - epoch_ms(c.requested_at)).label("ms"))
        .select_from(r)
        .where(decided_in_period)
        .subquery("durations")
    )
    return ReviewSla(
        requested=whole(requested),
        decided=_durations(reader, durations, 0),
        decided_late=whole(late),
        open_now=whole(open_now),
        overdue_now=whole(overdue),
    )
