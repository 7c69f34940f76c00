"""What the portfolio's queries run on: a store's SQLAlchemy connection or a DuckDB copy of
the book (`db/duckdb_book.py`); both take a Core query and give rows of plain values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import case, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from creditline.decisions.portfolio_views import line_scores, score_events
from creditline.kernel.invariant import fail
from creditline.ledger.portfolio_views import line_positions
from creditline.loans.portfolio_views import days_past_due_reached, loan_positions


class Reader(Protocol):
    """Runs a Core query."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, statement: Any) -> Iterable[Sequence[Any]]: ...


class Shared:
    """A reader, and the reads several figures of a report join, each computed once where the
    reader can keep it (a DuckDB copy: a temporary table) and reused by every figure; on a
    store, the same subquery anew in each query (one read transaction: the same rows)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._keep: Callable[[str, Any], Any] | None = getattr(reader, "keep", None)
        self._kept: dict[tuple[Any, ...], Any] = {}

    @property
    def dialect(self) -> Dialect:
        return self.reader.dialect

    def execute(self, statement: Any) -> Iterable[Sequence[Any]]:
        return self.reader.execute(statement)

    def once(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """The read `make()` builds, kept under `key` on a reader that keeps reads."""
        if self._keep is None:
            return make()
        if key not in self._kept:
            self._kept[key] = self._keep(f"shared_{len(self._kept)}", make())
        return self._kept[key]

    def positions(self, before: dt.datetime, currency: str) -> Any:
        """`line_positions(before, currency)`."""
        return self.once(("positions", before, currency), lambda: line_positions(before, currency))

    def scores(self, before: dt.datetime) -> Any:
        """`line_scores(before)`, each evidence's score and grade parsed once a report."""
        events = self.once(("score_events",), score_events)
        return self.once(("scores", before), lambda: line_scores(before, events))

    def loans(self, before: dt.datetime, on: dt.date, currency: str) -> Any:
        """`loan_positions(before, on, currency)`."""
        return self.once(
            ("loans", before, on, currency), lambda: loan_positions(before, on, currency)
        )

    def reached(self, on: dt.date, currency: str) -> Any:
        """`days_past_due_reached(on, currency, (30, 90))`."""
        return self.once(
            ("reached", on, currency), lambda: days_past_due_reached(on, currency, (30, 90))
        )


def rows(reader: Reader, statement: ClauseElement) -> list[tuple[Any, ...]]:
    """Every row of `statement` as a tuple."""
    return [tuple(row) for row in reader.execute(statement)]


def one(reader: Reader, statement: ClauseElement) -> tuple[Any, ...]:
    """The one row of an aggregate query."""
    found = rows(reader, statement)
    return found[0] if found else fail("an aggregate query returned no row")


def whole(value: Any) -> int:
    """A count or sum as an int (null: 0)."""
    return 0 if value is None else int(value)


def as_utc(value: Any) -> dt.datetime | None:
    """A time read from any store as tz-aware UTC (DuckDB and SQLite keep naive UTC)."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def as_date(value: Any) -> dt.date | None:
    """A date read from any store."""
    if value is None or type(value) is dt.date:
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(str(value))


def keyed(*columns: Any, where: Any = None, from_: Any = None) -> Any:
    """A subquery of labelled key and value columns, to group by its keys: a key computed with
    parameters cannot be grouped by on PostgreSQL, which sees each use as a new expression."""
    query = select(*columns)
    if from_ is not None:
        query = query.select_from(from_)
    if where is not None:
        query = query.where(where)
    return query.subquery("keyed")


def nearest_rank(durations: Any, column: str = "ms") -> Any:
    """count, p50 and p99 (nearest rank: the least value with at least that share at or
    below it) of a subquery's `column`, portable to every store."""
    value = durations.c[column]
    ranked = select(
        value.label("v"),
        func.row_number().over(order_by=value).label("rank"),
        func.count().over().label("n"),
    ).subquery("ranked")
    r = ranked.c

    def at(percent: int) -> Any:
        return func.min(case((r.rank * 100 >= r.n * percent, r.v)))

    return select(func.count(), at(50), at(99)).select_from(ranked)
