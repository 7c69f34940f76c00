"""What notices leave behind: each channel's delivery, the borrower's inbox and preferences."""

from __future__ import annotations

from sqlalchemy import Column, Index, PrimaryKeyConstraint, String, Table, Text

from creditline.db.metadata import ID, UtcDateTime, metadata

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
