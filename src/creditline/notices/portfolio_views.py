"""The notices capability's reads for portfolio reports: when each notice was delivered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select

from creditline.notices.tables import outbox

# What a copy of the book needs of the notices' tables, by table.
SOURCES: dict[str, Select[Any]] = {
    "outbox": select(outbox.c.ref_id, outbox.c.topic, outbox.c.created_at, outbox.c.delivered_at),
}


def notices_delivered(before: datetime) -> Any:
    """Per thing a borrower was told about (a decision's id, a loan's): ref_id, queued_at,
    delivered_at (the last of its notices to be delivered before `before`; null while one is
    not)."""
    o = outbox.c
    delivered = case((o.delivered_at < before, o.delivered_at))
    return (
        select(
            o.ref_id,
            func.min(o.created_at).label("queued_at"),
            case(
                (func.count(delivered) == func.count(), func.max(delivered)),
            ).label("delivered_at"),
        )
        .where(o.topic.startswith("notice."), o.created_at < before)
        .group_by(o.ref_id)
        .subquery("notices_delivered")
    )
