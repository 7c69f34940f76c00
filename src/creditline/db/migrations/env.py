"""Alembic environment: runs migrations on the connection handed in by `db.migrate`."""

from __future__ import annotations

from alembic import context

# Each capability's tables register themselves on `metadata`.
import creditline.decisions.tables
import creditline.ledger.tables
import creditline.loans.tables
import creditline.notices.tables  # noqa: F401
from creditline.db.metadata import metadata

target_metadata = metadata


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("creditline runs migrations online only: `creditline db upgrade`")
run_migrations_online()
