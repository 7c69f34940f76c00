"""Engines for the two stores: SQLite (embedded, WAL) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event

from creditline.config import sqlite_path
from creditline.db.checkpoints import SQLITE_AUTOCHECKPOINT_PAGES, WAL_AUTOCHECKPOINT_PAGES

SQLITE_BUSY_TIMEOUT_MS = 30_000
# PostgreSQL connections a pool keeps open. A connection beyond them (overflow) is closed when it
# is returned, so more threads than this churn connections: a new server process each time.
POOL_SIZE = 10
# Execution option that marks a read-only transaction: on SQLite it need not take the write lock.
READ_ONLY_OPTION = "creditline_read_only"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for every PostgreSQL URL."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    url: str, *, pool_size: int = POOL_SIZE, echo: bool = False, background_checkpoints: bool = True
) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` writes, and
    leaves WAL checkpoints to `Database`'s thread unless `background_checkpoints` is False."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        pages = WAL_AUTOCHECKPOINT_PAGES if background_checkpoints else SQLITE_AUTOCHECKPOINT_PAGES
        return _sqlite_engine(url, echo=echo, autocheckpoint_pages=pages)
    # No pre-ping: it costs every transaction a round trip. A connection that broke while
    # pooled fails its transaction with a retryable error instead (unit_of_work.is_retryable).
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_recycle=1800,
        echo=echo,
    )


def _sqlite_engine(url: str, *, echo: bool, autocheckpoint_pages: int) -> Engine:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=32,
        )
    else:
        # In-memory SQLite would need one connection shared by every thread, and concurrent
        # commands would interleave their transactions on it.
        raise ValueError("in-memory SQLite is not supported: give the database a file")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so that we can say BEGIN IMMEDIATE:
        # a writer then waits for the write lock up front instead of failing on upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # With checkpoints on their own thread (db/checkpoints.py), only a safety net.
        cursor.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint_pages}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
