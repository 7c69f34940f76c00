"""Ids the store makes for set-based inserts (`db/ids.py`) are UUIDv7s like `new_id`'s: the
canonical text, version 7, RFC 9562's variant, all different, and in creation order with the
ids made in this process around them."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text

from creditline.db.engine import make_engine
from creditline.db.ids import new_ids_sql
from creditline.kernel.ids import is_id, new_id

ROWS = 20_000


def test_the_store_makes_uuid7_ids_like_new_id(database_url: str) -> None:
    engine = make_engine(database_url)
    rows = text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) "
        "SELECT i FROM n"
    ).columns()
    before = new_id()
    with engine.connect() as connection:
        numbers = rows.bindparams(rows=ROWS).subquery()
        made = list(
            connection.execute(
                select(new_ids_sql(engine.dialect.name)).select_from(numbers)
            ).scalars()
        )
    after = new_id()
    engine.dispose()

    assert len(made) == len(set(made)) == ROWS
    assert all(is_id(value) for value in made)
    parsed = [uuid.UUID(value) for value in made]
    assert {(u.version, u.variant) for u in parsed} == {(7, uuid.RFC_4122)}
    assert before[:13] <= min(made)[:13] and max(made)[:13] <= after[:13]  # the milliseconds
    assert len({value[19] for value in made}) == 4  # the variant's four digits, all drawn
