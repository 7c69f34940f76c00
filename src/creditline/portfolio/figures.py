"""The figures of a portfolio report, and the arithmetic on them that needs no store.

Money is integer minor units; shares and probabilities are `Decimal`s, rounded only where
they are shown. Expected loss is PD × LGD × EAD per grade, rounded half-up to a minor unit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from creditline.kernel.money import round_half_up

# Days past due: the buckets a loan is counted in, by their least days (the last has no top).
DPD_BUCKETS: tuple[tuple[str, int], ...] = (
    ("current", 0),
    ("1-29", 1),
    ("30-59", 30),
    ("60-89", 60),
    ("90+", 90),
)
SETTLED = "settled"
# Utilisation (drawn and held over the limit): the upper edges in percent of each band.
UTILISATION_BANDS: tuple[tuple[str, int], ...] = (
    ("0%", 0),
    ("1-25%", 25),
    ("26-50%", 50),
    ("51-75%", 75),
    ("76-90%", 90),
    ("91-100%", 100),
)
UNSCORED = "unscored"


@dataclass(frozen=True, slots=True)
class Exposure:
    """The book's lines and balances: limits, drawn (principal outstanding), held, available
    (nothing on a frozen, suspended or closed line)."""

    lines: int
    lines_by_status: dict[str, int]
    limit_minor: int
    drawn_minor: int
    held_minor: int
    available_minor: int


@dataclass(frozen=True, slots=True)
class Week:
    """The limit decisions of one week (seven days ending at `last_day`)."""

    first_day: dt.date
    last_day: dt.date
    lines_on_book: int  # opened before the week ended, not closed before it began
    decisions: dict[str, int]  # by action
    reasons: dict[str, dict[str, int]]  # action -> reason code -> decisions
    lines_by_action: dict[str, int]  # lines with at least one decision of the action

    def rate(self, action: str) -> Decimal:
        """The share of the week's lines with a decision of `action` (freeze, suspend,
        decrease)."""
        if not self.lines_on_book:
            return Decimal(0)
        return Decimal(self.lines_by_action.get(action, 0)) / self.lines_on_book


@dataclass(frozen=True, slots=True)
class ZeroLine:
    """A line with nothing left to draw, and the journal entry that took it there: a decision
    (`freeze`, `suspend`, `decrease`, `close`), the borrower's drawdown (`hold`, `post`), or
    neither: a defect."""

    line_id: str
    status: str
    kind: str | None
    decision_id: str | None
    drawdown_id: str | None
    at: dt.datetime | None

    @property
    def cause(self) -> str:
        """`decision`, `drawdown` or `defect` (no decision and not the borrower's use)."""
        if self.decision_id is not None:
            return "decision"
        if self.drawdown_id is not None:
            return "drawdown"
        return "defect"


@dataclass(frozen=True, slots=True)
class ZeroAvailable:
    """Lines at zero available by cause, the defects in full, and the latest few of the
    others."""

    by_cause: dict[str, int]
    defects: list[ZeroLine]
    latest: list[ZeroLine]

    @property
    def lines(self) -> int:
        """Lines at zero available."""
        return sum(self.by_cause.values())


@dataclass(frozen=True, slots=True)
class Durations:
    """How long something took: how many, the median and the 99th percentile (nearest rank,
    in milliseconds), and how many are still waiting."""

    count: int
    p50_ms: int | None
    p99_ms: int | None
    waiting: int = 0


@dataclass(frozen=True, slots=True)
class DpdBucket:
    """Open loans in a bucket of days past due and their principal outstanding."""

    bucket: str
    loans: int
    principal_minor: int


@dataclass(frozen=True, slots=True)
class Vintage:
    """Loans opened in one month, and per month on book (0 = the opening month) how many had
    been 30+ and 90+ days past due by its end (cumulative)."""

    cohort: str  # YYYY-MM
    loans: int
    reached_30: list[int]
    reached_90: list[int]

    def share(self, reached: list[int]) -> list[Decimal]:
        """Cumulative shares of the cohort's loans."""
        return [Decimal(n) / self.loans for n in reached] if self.loans else []


@dataclass(frozen=True, slots=True)
class GradeRisk:
    """One grade's exposure and expected loss. EAD = drawn + held + CCF × undrawn."""

    grade: str
    lines: int
    limit_minor: int
    drawn_minor: int
    held_minor: int
    undrawn_minor: int
    score_sum: int  # of the lines that have a score (for the scorecard's PD)
    matured_lines: int  # scored a year before, outcome known
    matured_bad: int  # of them: 90+ days past due within the year
    pd: Decimal = Decimal(0)
    pd_source: str = "none"  # matured | scorecard | none
    ead_minor: int = 0
    expected_loss_minor: int = 0


@dataclass(frozen=True, slots=True)
class Concentration:
    """Lines and balances under one key of a dimension (grade, region, funder)."""

    key: str
    lines: int
    limit_minor: int
    drawn_minor: int


@dataclass(frozen=True, slots=True)
class ReviewSla:
    """Human reviews: asked for and decided in the period, how long deciding took, and at the
    report's date those still open and those past their deadline."""

    requested: int
    decided: Durations
    decided_late: int
    open_now: int
    overdue_now: int


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Every figure of the book at the end of `as_of` (the lender's business date) in one
    currency, with the period of the flows (the `weeks` ending then)."""

    as_of: dt.date
    currency: str
    cutoff: dt.datetime
    period_start: dt.datetime
    engine: str
    exposure: Exposure
    utilisation: dict[str, int]
    weeks: list[Week]
    zero_available: ZeroAvailable
    settlement_to_restored: Durations
    dpd_buckets: list[DpdBucket]
    roll_rates: dict[str, dict[str, int]]  # bucket a month before -> bucket now -> loans
    vintages: list[Vintage]
    grades: list[GradeRisk]
    loss_given_default: Decimal
    credit_conversion: Decimal
    concentration: dict[str, list[Concentration]]
    notice_sla: Durations
    decisions_without_notice: int
    review_sla: ReviewSla
    notes: list[str] = field(default_factory=list)

    @property
    def expected_loss_minor(self) -> int:
        """The book's expected loss: the grades' summed."""
        return sum(grade.expected_loss_minor for grade in self.grades)

    @property
    def ead_minor(self) -> int:
        """The book's exposure at default."""
        return sum(grade.ead_minor for grade in self.grades)


def scorecard_pd(score: Decimal, base_points: int, pdo: Decimal, base_odds: Decimal) -> Decimal:
    """The probability of a bad outcome a scorecard's scaling gives a score: good:bad odds
    are `base_odds` at `base_points` and double every `pdo` points."""
    odds = base_odds * Decimal(2) ** ((score - base_points) / pdo)
    return Decimal(1) / (1 + odds)


def with_expected_loss(
    grade: GradeRisk,
    scorecard: tuple[int, Decimal, Decimal] | None,
    loss_given_default: Decimal,
    credit_conversion: Decimal,
    matured_lines_min: int,
) -> GradeRisk:
    """The grade with its PD (the matured bad rate when at least `matured_lines_min` lines
    matured, else the scorecard's PD at the grade's mean score), EAD and expected loss."""
    from dataclasses import replace

    scored = grade.lines if grade.grade != UNSCORED else 0
    if grade.matured_lines and grade.matured_lines >= matured_lines_min:
        pd, source = Decimal(grade.matured_bad) / grade.matured_lines, "matured"
    elif scorecard is not None and scored:
        pd = scorecard_pd(Decimal(grade.score_sum) / scored, *scorecard)
        source = "scorecard"
    else:
        pd, source = Decimal(0), "none"
    ead = (
        grade.drawn_minor
        + grade.held_minor
        + round_half_up(credit_conversion * grade.undrawn_minor)
    )
    loss = round_half_up(pd * loss_given_default * ead)
    return replace(grade, pd=pd, pd_source=source, ead_minor=ead, expected_loss_minor=loss)


def cumulative(counts_by_month: dict[int, int], months: int) -> list[int]:
    """Running totals for months 0 … `months` of counts keyed by month."""
    out, total = [], 0
    for month in range(months + 1):
        total += counts_by_month.get(month, 0)
        out.append(total)
    return out
