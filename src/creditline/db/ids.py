"""Ids made by the store, one per row of a set-based insert (INSERT … SELECT): the same
UUIDv7 form as `kernel.ids.new_id` (RFC 9562: 48 bits of Unix milliseconds, version 7, 74
random bits, the variant), as canonical lowercase text.

Every row of one statement carries the statement's millisecond; the random bits tell them
apart (two ids of a million drawn alike: about one chance in 10¹⁰).
"""

from __future__ import annotations

import time

from sqlalchemy import String, literal_column
from sqlalchemy.sql.elements import ColumnElement

# PostgreSQL: the milliseconds' 6 bytes, then bytes 7-16 of a random UUID (version 4, whose
# variant bits are RFC 9562's); bits 52 and 53 set turn its version nibble 0100 into 0111.
_POSTGRESQL = (
    "encode(set_bit(set_bit(substring(int8send({ms}::bigint) from 3) || "
    "substring(uuid_send(gen_random_uuid()) from 7), 52, 1), 53, 1), 'hex')::uuid::text"
)
# SQLite: the same fields as hexadecimal text; `random() & 3` picks the variant's digit.
_SQLITE = (
    "printf('%08x-%04x-7', {high}, {low}) || substr(lower(hex(randomblob(2))), 2) || '-' || "
    "substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || "
    "lower(hex(randomblob(6)))"
)


def new_ids_sql(dialect: str) -> ColumnElement[str]:
    """An expression that is a new id in each row it is selected for, on `dialect`'s store."""
    ms = time.time_ns() // 1_000_000  # the clock `new_id` reads: ids sort in creation order
    if dialect == "postgresql":
        sql = _POSTGRESQL.format(ms=ms)
    elif dialect == "sqlite":
        sql = _SQLITE.format(high=ms >> 16, low=ms & 0xFFFF)
    else:
        raise ValueError(f"no id expression for {dialect}")
    return literal_column(sql, String)
