"""What request bodies share: unknown fields are refused, amounts are decimal strings."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr

Amount = Annotated[
    StrictStr, Field(description="decimal string in major units", examples=["5000.00"])
]


class Body(BaseModel):
    """A request body that refuses fields it does not know."""

    model_config = ConfigDict(extra="forbid")
