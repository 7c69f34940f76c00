"""A policy's guardrails: limits on the change a new version may make to the book.

Above them a version is approved only by an admin with a written justification
(`decisions/lifecycle.py`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ADVERSE_SHARE_MAX_DEFAULT = Decimal("0.05")


class Guardrails(BaseModel):
    """Limits on the change a version makes, checked on its simulation at approval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The share of the book the version may adversely affect.
    adverse_share_max: Annotated[Decimal, Field(ge=0, le=1)] = ADVERSE_SHARE_MAX_DEFAULT
