"""A borrower's request is answered: it has a deadline (the profile's `review_days` after it
was made, as the borrower's notice says), the borrower may withdraw it while it is open
(`withdrawn`), a line has one open request at a time, and staff list the open ones oldest
first.

Requests recorded before this revision were told no deadline: they get the default
`review_days` (15) after they were made.

Revision ID: 0017
Revises: 0016
"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.sql.elements import conv

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_REVIEW_DAYS_DEFAULT = 15
# Names taken as written (what op.f marks), without op: the module loads outside a migration.
_STATUS_KNOWN = conv("ck_borrower_requests_status_known")
_WITHDRAWN_HAS_TIME = conv("ck_borrower_requests_withdrawn_has_time")
_DUE_AFTER_CREATED = conv("ck_borrower_requests_due_after_created")
_QUEUE = "ix_borrower_requests_status_created_at"
_ONE_OPEN = "ux_borrower_requests_open_line"


def upgrade() -> None:
    # SQLite changes a CHECK only by rebuilding the table (batch mode); the table has no
    # triggers to lose. PostgreSQL alters it in place.
    with op.batch_alter_table("borrower_requests") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch.drop_constraint(_STATUS_KNOWN, type_="check")
        batch.create_check_constraint(_STATUS_KNOWN, "status IN ('open', 'done', 'withdrawn')")
        batch.create_check_constraint(
            _WITHDRAWN_HAS_TIME, "(status = 'withdrawn') = (withdrawn_at IS NOT NULL)"
        )
    _backfill_deadlines()
    with op.batch_alter_table("borrower_requests") as batch:
        batch.alter_column("due_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_check_constraint(_DUE_AFTER_CREATED, "due_at > created_at")
    op.create_index(_QUEUE, "borrower_requests", ["status", "created_at", "id"])
    op.create_index(
        _ONE_OPEN,
        "borrower_requests",
        ["line_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
        sqlite_where=sa.text("status = 'open'"),
    )


def _backfill_deadlines() -> None:
    requests = sa.table(
        "borrower_requests",
        sa.column("id", sa.String(36)),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("due_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    made = bind.execute(sa.select(requests.c.id, requests.c.created_at)).all()
    for request_id, created_at in made:
        due_at = created_at + timedelta(days=_REVIEW_DAYS_DEFAULT)
        bind.execute(sa.update(requests).where(requests.c.id == request_id).values(due_at=due_at))


def downgrade() -> None:
    bind = op.get_bind()
    withdrawn = bind.execute(
        sa.text("SELECT count(*) FROM borrower_requests WHERE status = 'withdrawn'")
    ).scalar_one()
    if withdrawn:
        # The older schema has no word for them; a downgrade does not silently drop them.
        raise RuntimeError(
            f"{withdrawn} withdrawn borrower request(s): the older schema cannot keep them"
        )
    op.drop_index(_ONE_OPEN, "borrower_requests")
    op.drop_index(_QUEUE, "borrower_requests")
    with op.batch_alter_table("borrower_requests") as batch:
        batch.drop_constraint(_DUE_AFTER_CREATED, type_="check")
        batch.drop_constraint(_WITHDRAWN_HAS_TIME, type_="check")
        batch.drop_constraint(_STATUS_KNOWN, type_="check")
        batch.create_check_constraint(_STATUS_KNOWN, "status IN ('open', 'done')")
        batch.drop_column("withdrawn_at")
        batch.drop_column("due_at")
