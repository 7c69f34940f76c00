"""Migration 0027 on both stores: a command's stored response is compressed with lz4 on
PostgreSQL from then on; responses stored before it, and after, replay as they were."""

from __future__ import annotations

from sqlalchemy import text

from creditline.bootstrap import Container
from creditline.db.migrate import upgrade
from creditline.kernel.actors import Actor
from tests.integration.test_migration_penalty_per_instalment import downgrade


def test_responses_stored_before_and_after_replay_and_new_ones_are_lz4_on_postgresql(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    engine = container.db.engine
    line_id = container.ledger.open_line(agent, "open", borrower.subject, "CNY", "5000.00")
    line_id = line_id.document["id"]
    downgrade(engine, "0026")
    before = container.ledger.place_hold(borrower, "before", line_id, "100.00", 12).document
    upgrade(engine)
    after = container.ledger.place_hold(borrower, "after", line_id, "100.00", 12).document
    assert container.ledger.place_hold(borrower, "before", line_id, "100.00", 12).document == before
    assert container.ledger.place_hold(borrower, "after", line_id, "100.00", 12).document == after
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        stored = dict(
            connection.execute(
                text(
                    "SELECT key, pg_column_compression(response) FROM idempotency_keys"
                    " WHERE key IN ('before', 'after')"
                )
            ).all()
        )
        default = connection.execute(text("SHOW default_toast_compression")).scalar()
        has_lz4 = connection.execute(_HAS_LZ4).scalar()
    # A hold's response carries its quote: long enough (over 2 KB) to be compressed, by the
    # server's default before 0027 and by lz4 after it where the server has lz4.
    assert stored == {"before": default, "after": "lz4" if has_lz4 else default}
    downgrade(engine, "0026")
    with engine.connect() as connection:
        assert connection.execute(_COLUMN_COMPRESSION).scalar() == ""  # the default again
    upgrade(engine)


_HAS_LZ4 = text(
    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
)
_COLUMN_COMPRESSION = text(
    "SELECT attcompression FROM pg_attribute"
    " WHERE attrelid = 'idempotency_keys'::regclass AND attname = 'response'"
)
