"""The shipped product catalogue without its jurisdiction profiles' limit caps, for benches
that load books of lines far above what CN-1 allows a borrower with no income on file: they
measure the ledger and the review, not the caps (a book migrated from before them)."""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path

CAP_KEYS = (
    "limit_cap",
    "unverified_income_limit_max",
    "debt_to_income_max_percent",
    "ability_to_pay_term_months",
)


def uncapped_products() -> Path:
    """A copy of the shipped catalogue with every cap line left out (one file per process)."""
    path = Path(tempfile.gettempdir()) / f"creditline-uncapped-products-{os.getpid()}.toml"
    if not path.exists():
        shipped = resources.files("creditline.loans").joinpath("products.toml").read_text("utf-8")
        kept = [line for line in shipped.splitlines() if not line.startswith(CAP_KEYS)]
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path
