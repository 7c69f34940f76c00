"""Portfolio reports: every figure of the book at the end of a business date, in one
currency, read in one consistent transaction of the store, or from a copy of the book in
DuckDB (`report_on`) for a book too large to report on the store in time.

The figures come from the capabilities' published report reads, composed here into set-based
queries (docs/decisions/0020). PD per grade is the bad rate (90+ days past due within a year)
of the lines the grade held a year before, once enough have matured; until then the
scorecard's own scaling at the grade's mean score.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from creditline.db.duckdb_book import DuckDBBook
from creditline.db.unit_of_work import Database
from creditline.decisions import portfolio_views as decision_views
from creditline.kernel.actors import Actor
from creditline.kernel.clock import Clock
from creditline.kernel.errors import (
    FunderNotFound,
    InvalidInput,
    ReportDateInFuture,
    UnknownCurrency,
)
from creditline.kernel.permissions import Permission, require
from creditline.ledger import portfolio_views as ledger_views
from creditline.loans import portfolio_views as loan_views
from creditline.loans.products import Catalogue, Profile
from creditline.notices import portfolio_views as notice_views
from creditline.portfolio import book, credit, flows, funders
from creditline.portfolio.figures import (
    DPD_BUCKETS,
    Concentration,
    DpdBucket,
    Portfolio,
    with_expected_loss,
)
from creditline.portfolio.funders import FunderPosition, FunderReport
from creditline.portfolio.reads import Reader, Shared

WEEKS_DEFAULT = 12
WEEKS_MAX = 52
MATURED_LINES_MIN = 30  # a grade's observed bad rate is its PD from this many matured lines
ROLL_DAYS = 30  # roll rates: from this many days before the report's date
OUTCOME_DAYS = 365  # a PD's outcome window
# A scorecard's scaling, for its PD: base points, points to double the odds, odds at base.
Scaling = tuple[int, Decimal, Decimal]
# Every report source of every capability: what a copy of the book in DuckDB holds.
SOURCES = {
    **ledger_views.SOURCES,
    **loan_views.SOURCES,
    **decision_views.SOURCES,
    **notice_views.SOURCES,
}


class PortfolioService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        catalogue: Catalogue,
        scaling: Callable[[str], Scaling | None],
        dimensions: dict[str, book.Dimension] | None = None,
        matured_lines_min: int = MATURED_LINES_MIN,
    ) -> None:
        self._db = db
        self._clock = clock
        self._catalogue = catalogue
        self._scaling = scaling
        self._dimensions = dict(dimensions or {})
        self._matured_lines_min = matured_lines_min

    def with_matured_lines_min(self, lines: int) -> PortfolioService:
        """The same service, a grade's observed bad rate its PD from `lines` matured lines."""
        return PortfolioService(
            self._db, self._clock, self._catalogue, self._scaling, self._dimensions, lines
        )

    def report(
        self,
        actor: Actor,
        as_of: dt.date | None = None,
        currency: str | None = None,
        weeks: int = WEEKS_DEFAULT,
    ) -> Portfolio:
        """The book's figures at the end of `as_of` (default: yesterday where the lender does
        business) in `currency` (default: the catalogue's first), read from the store."""
        require(actor, Permission.READ_PORTFOLIO)
        profile, as_of = self._checked(as_of, currency, weeks)
        engine = self._db.dialect
        return self._db.read(lambda tx: self.compose(tx.connection, profile, as_of, weeks, engine))

    def report_on(
        self,
        actor: Actor,
        copy: DuckDBBook,
        as_of: dt.date | None = None,
        currency: str | None = None,
        weeks: int = WEEKS_DEFAULT,
        progress: Callable[[str], None] | None = None,
    ) -> Portfolio:
        """The same figures from a copy of the book in DuckDB (`copy_book`); `progress` is
        told the name of each figure as it starts."""
        require(actor, Permission.READ_PORTFOLIO)
        profile, as_of = self._checked(as_of, currency, weeks)
        return self.compose(copy, profile, as_of, weeks, "duckdb", progress)

    def copy_book(
        self, actor: Actor, path: Path | str, progress: Callable[[str, int], None] | None = None
    ) -> DuckDBBook:
        """A copy in DuckDB (a file at `path`, or ":memory:") of every table the report reads,
        from one consistent transaction of the store."""
        require(actor, Permission.READ_PORTFOLIO)
        copy = DuckDBBook(path)

        def each(name: str) -> Callable[[int], None] | None:
            return None if progress is None else (lambda rows: progress(name, rows))

        with self._db.reading() as connection:
            for name, source in SOURCES.items():
                copy.copy_from(connection, name, source, each(name))
        return copy

    @staticmethod
    def open_copy(path: Path | str) -> DuckDBBook:
        """A copy of the book made earlier by `copy_book`."""
        return DuckDBBook(path)

    def default_currency(self) -> str:
        """The currency a report is in unless asked: the catalogue's first lending currency."""
        return self._catalogue.profiles_in_use()[0].currency

    def _checked(
        self, as_of: dt.date | None, currency: str | None, weeks: int
    ) -> tuple[Profile, dt.date]:
        currency = currency or self.default_currency()
        profiles = {p.currency: p for p in self._catalogue.profiles_in_use()}
        profile = profiles.get(currency)
        if profile is None:
            raise UnknownCurrency(
                f"no lending currency {currency!r}: {', '.join(sorted(profiles))}", field="currency"
            )
        if not 1 <= weeks <= WEEKS_MAX:
            raise InvalidInput(f"weeks must be 1 to {WEEKS_MAX}", field="weeks")
        today = profile.business_date(self._clock.now())
        as_of = as_of or today - dt.timedelta(days=1)
        if as_of > today:
            raise ReportDateInFuture(
                f"{as_of} has not begun where the lender does business (today is {today})",
                field="date",
            )
        return profile, as_of

    def compose(
        self,
        reader: Reader,
        profile: Profile,
        as_of: dt.date,
        weeks: int,
        engine: str,
        progress: Callable[[str], None] | None = None,
    ) -> Portfolio:
        """Every figure, each one query (or a few) on `reader`, sharing the reads they join."""
        shared = Shared(reader)
        currency = profile.currency
        cutoff = end_of(as_of, profile)
        start = cutoff - weeks * flows.WEEK
        month_before = as_of - dt.timedelta(days=ROLL_DAYS)
        month_before_at = (end_of(month_before, profile), month_before)
        sections: dict[str, Callable[[], Any]] = {
            "exposure": lambda: book.exposure(shared, cutoff, currency),
            "utilisation": lambda: book.utilisation(shared, cutoff, currency),
            "weeks": lambda: flows.weeks(shared, cutoff, weeks, currency, as_of),
            "zero_available": lambda: book.zero_available(shared, cutoff, currency),
            "settlement_to_restored": lambda: flows.settlement_to_restored(
                shared, start, cutoff, currency
            ),
            "dpd_buckets": lambda: credit.dpd_buckets(shared, cutoff, as_of, currency),
            "roll_rates": lambda: credit.roll_rates(
                shared, month_before_at, (cutoff, as_of), currency
            ),
            "vintages": lambda: credit.vintages(shared, as_of, currency),
            "grades": lambda: self._grades(shared, profile, cutoff, as_of),
            "concentration": lambda: self._concentration(shared, cutoff, as_of, currency),
            "notice_sla": lambda: flows.notice_sla(shared, start, cutoff, currency),
            "review_sla": lambda: flows.review_sla(shared, start, cutoff, currency),
        }
        found = {}
        for name, figure in sections.items():
            if progress is not None:
                progress(name)
            found[name] = figure()
        notice, without_notice = found.pop("notice_sla")
        return Portfolio(
            as_of=as_of,
            currency=currency,
            cutoff=cutoff,
            period_start=start,
            engine=engine,
            loss_given_default=profile.loss_given_default,
            credit_conversion=profile.credit_conversion,
            notice_sla=notice,
            decisions_without_notice=without_notice,
            **found,
        )

    def funder_report(self, actor: Actor, funder: str, period: str) -> FunderReport:
        """A funder's part of the book at the end of `period` (YYYY-MM; a month not yet
        ended: its latest ended business date), in the currency of the profile listing it."""
        require(actor, Permission.READ_PORTFOLIO)
        profile, name = self._funder_profile(funder)
        try:
            first, last = funders.month_bounds(period)
        except ValueError:
            raise InvalidInput("period must be YYYY-MM", field="period") from None
        yesterday = profile.business_date(self._clock.now()) - dt.timedelta(days=1)
        if first > yesterday:
            raise ReportDateInFuture(f"{period} has not begun", field="period")
        as_of = min(last, yesterday)
        cutoff = end_of(as_of, profile)
        month_start = end_of(first - dt.timedelta(days=1), profile)

        def read(connection: Reader) -> FunderReport:
            shared = Shared(connection)
            found = funders.funder_positions(
                shared, cutoff, as_of, profile.currency, profile.loss_given_default
            )
            position = next((p for p in found if p.funder == funder), None)
            drawn = book.exposure(shared, cutoff, profile.currency).drawn_minor
            return FunderReport(
                funder,
                name,
                period,
                as_of,
                profile.currency,
                position or _nothing_funded(funder),
                drawn,
                profile.loss_given_default,
                funders.policy_impacts(
                    shared, month_start, cutoff, as_of, profile.currency, funder
                ),
            )

        return self._db.read(lambda tx: read(tx.connection))

    def _funder_profile(self, funder: str) -> tuple[Profile, str]:
        for profile in self._catalogue.profiles_in_use():
            names = dict(profile.funders) | {"lender": profile.name}
            if funder in names:
                return profile, names[funder]
        raise FunderNotFound(f"no profile lists the funder {funder!r}", funder=funder)

    def _grades(
        self, reader: Shared, profile: Profile, cutoff: dt.datetime, as_of: dt.date
    ) -> list[Any]:
        observed_on = as_of - dt.timedelta(days=OUTCOME_DAYS)
        matured = credit.matured_outcomes(
            reader, end_of(observed_on, profile), observed_on, as_of, profile.currency
        )
        scaling = self._scaling(profile.currency)
        return [
            with_expected_loss(
                replace(
                    grade,
                    matured_lines=matured.get(grade.grade, (0, 0))[0],
                    matured_bad=matured.get(grade.grade, (0, 0))[1],
                ),
                scaling,
                profile.loss_given_default,
                profile.credit_conversion,
                self._matured_lines_min,
            )
            for grade in book.grade_balances(reader, cutoff, profile.currency)
        ]

    def _concentration(
        self, reader: Shared, cutoff: dt.datetime, as_of: dt.date, currency: str
    ) -> dict[str, list[Concentration]]:
        found = {
            name: book.concentration(reader, cutoff, currency, dimension)
            for name, dimension in self._dimensions.items()
        }
        return found | {"funder": funders.funder_concentration(reader, cutoff, as_of, currency)}


def _nothing_funded(funder: str) -> FunderPosition:
    buckets = [DpdBucket(label, 0, 0) for label, _ in DPD_BUCKETS]
    return FunderPosition(funder, 0, 0, 0, buckets, 0, 0)


def end_of(day: dt.date, profile: Profile) -> dt.datetime:
    """The instant `day` ends where the profile's lender does business, in UTC."""
    next_day = day + dt.timedelta(days=1)
    local = dt.datetime(next_day.year, next_day.month, next_day.day, tzinfo=profile.timezone)
    return local.astimezone(dt.UTC)
