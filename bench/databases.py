"""A PostgreSQL database of a bench's own, beside the server's configured one."""

from __future__ import annotations

import os
from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from creditline.db.engine import normalise_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def add_postgres_url(parser: ArgumentParser) -> None:
    """`--postgres-url`: the server whose configured database the bench's own sits beside."""
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CREDITLINE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="the PostgreSQL server (default: CREDITLINE_TEST_POSTGRES_URL, else the local one)",
    )


@contextmanager
def postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new empty database `<prefix>_<pid>` beside `server_url`'s, dropped afterwards; its URL.
    The pid keeps runs side by side (two checkouts, CI and a developer) apart."""
    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
