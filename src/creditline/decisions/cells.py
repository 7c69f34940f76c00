"""Champion/challenger cells and their guardrails, as pure functions (no I/O, no clock).

A line's cell is decided by a hash of the experiment's salt and the line's id, so it is the
same in every process and on every trigger, and anyone can compute it again:

    bucket = int.from_bytes(sha256(f"{salt}:{line_id}".encode("utf-8")).digest()[:8], "big")
             % 10_000
    cell   = "challenger" if bucket < share_bp else "champion"

(`share_bp`: the challenger's share in basis points). A new salt draws new cells.

The guardrails are the experiment's: a largest adverse rate (adverse decisions ÷ decisions in
the challenger's cell) and a largest exposure change (|Σ limits now − Σ limits before| ÷ Σ
limits before, over the cell's lines decided so far), each in basis points, looked at once the
cell has `decisions_min` decisions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

BUCKETS = 10_000  # basis points
SHARE_BP_MAX = 5_000  # a challenger runs on a slice: at most half the book
SALT_LENGTH_MAX = 64


class Cell(StrEnum):
    CHAMPION = "champion"
    CHALLENGER = "challenger"


def bucket(salt: str, line_id: str) -> int:
    """The line's bucket, 0 … 9,999: the first 8 bytes of sha256("salt:line_id"), big-endian,
    modulo 10,000."""
    digest = hashlib.sha256(f"{salt}:{line_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def cell_of(salt: str, share_bp: int, line_id: str) -> tuple[Cell, int]:
    """The line's cell and bucket: the challenger's when the bucket is below its share."""
    found = bucket(salt, line_id)
    return (Cell.CHALLENGER if found < share_bp else Cell.CHAMPION), found


@dataclass(frozen=True, slots=True)
class CellAssignment:
    """A line's place in a running experiment."""

    experiment_id: str
    cell: Cell
    bucket: int

    def document(self) -> dict[str, object]:
        """As kept with a decision's evidence."""
        return {"id": self.experiment_id, "cell": self.cell.value, "bucket": self.bucket}


@dataclass(frozen=True, slots=True)
class Guardrails:
    """An experiment's limits on its challenger's cell (basis points)."""

    adverse_rate_max_bp: int
    exposure_change_max_bp: int
    decisions_min: int


@dataclass(frozen=True, slots=True)
class CellFigures:
    """What a cell's decisions add up to: decisions, adverse ones, and the limits of the lines
    decided, before their first decision in the experiment and after their latest."""

    decisions: int
    adverse: int
    limit_before_minor: int
    limit_after_minor: int

    @property
    def adverse_rate(self) -> Decimal:
        """Adverse decisions ÷ decisions (0 without decisions)."""
        return Decimal(self.adverse) / self.decisions if self.decisions else Decimal(0)

    @property
    def exposure_change(self) -> Decimal:
        """(Σ limits after − Σ limits before) ÷ Σ limits before (0 without limits)."""
        if not self.limit_before_minor:
            return Decimal(0)
        change = self.limit_after_minor - self.limit_before_minor
        return Decimal(change) / self.limit_before_minor


def breach(figures: CellFigures, guardrails: Guardrails) -> dict[str, str] | None:
    """The first guardrail the figures exceed (name, observed, maximum), or None; none is
    looked at before the cell has `decisions_min` decisions."""
    if figures.decisions < guardrails.decisions_min:
        return None
    rate_max = Decimal(guardrails.adverse_rate_max_bp) / BUCKETS
    if figures.adverse_rate > rate_max:
        return _breach("adverse_rate", figures.adverse_rate, rate_max)
    change_max = Decimal(guardrails.exposure_change_max_bp) / BUCKETS
    if abs(figures.exposure_change) > change_max:
        return _breach("exposure_change", figures.exposure_change, change_max)
    return None


def _breach(name: str, observed: Decimal, maximum: Decimal) -> dict[str, str]:
    return {"guardrail": name, "observed": ratio(observed), "maximum": ratio(maximum)}


def ratio(value: Decimal) -> str:
    """A share as text with four decimals ("0.0525")."""
    return str(value.quantize(Decimal("0.0001")))
