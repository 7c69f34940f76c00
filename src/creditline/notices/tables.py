"""The outbox, and what notices leave behind: each channel's delivery, the borrower's inbox and
preferences."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text, text

from creditline.db.metadata import ID, UtcDateTime, metadata

# Every message about a change, written in the change's transaction (notices/outbox.py).
outbox = Table(
    "outbox",
    metadata,
    Column("id", ID, primary_key=True),
    Column("topic", String(64), nullable=False),
    Column("line_id", ID, nullable=False),
    Column("borrower_id", String(64), nullable=False),
    # What the message is about: the decision, loan or drawdown id.
    Column("ref_id", ID, nullable=False, index=True),
    Column("payload", Text, nullable=False),  # JSON
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Delivery (notices/dispatcher.py): a dispatcher's lease on the message, when to try again
    # after a failure, the last failure, and when it was given up as a dead letter.
    Column("claimed_until", UtcDateTime, nullable=True),
    Column("claim_token", ID, nullable=True),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("dead_at", UtcDateTime, nullable=True),
)
# The claim's order (notices/dispatcher.py): oldest first, then by id.
Index(
    "ix_outbox_undelivered",
    outbox.c.created_at,
    outbox.c.id,
    postgresql_where=text("delivered_at IS NULL"),
    sqlite_where=text("delivered_at IS NULL"),
)
# A line's notices, newest first (the staff console's timeline).
Index("ix_outbox_line_id_created_at", outbox.c.line_id, outbox.c.created_at)

# One row per outbox message and channel that took it: a retry skips these channels.
deliveries = Table(
    "deliveries",
    metadata,
    Column("notice_id", ID, nullable=False),
    Column("channel", String(16), nullable=False),  # inbox | email | webhook
    Column("delivered_at", UtcDateTime, nullable=False),
    Column("detail", Text, nullable=True),  # e.g. the address, or why nothing was sent
    PrimaryKeyConstraint("notice_id", "channel"),
)

# The in-app inbox: one row per notice, keyed by the notice (outbox message) id.
inbox = Table(
    "inbox",
    metadata,
    Column("notice_id", ID, primary_key=True),
    Column("borrower_id", String(64), nullable=False),
    Column("line_id", ID, nullable=False),
    Column("topic", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # JSON, as written with the change
    Column("created_at", UtcDateTime, nullable=False),  # when the change happened
    Column("read_at", UtcDateTime, nullable=True),
)
Index("ix_inbox_borrower", inbox.c.borrower_id, inbox.c.created_at)

# How a borrower wants to hear from the lender.
preferences = Table(
    "preferences",
    metadata,
    Column("borrower_id", String(64), primary_key=True),
    Column("email", String(254), nullable=True),
    Column("language", String(8), nullable=True),  # zh-CN | en; null: the profile's
    Column("updated_at", UtcDateTime, nullable=False),
)
