"""The documents the API answers with, one module per resource: what the OpenAPI document
declares for every response, and what a generated client reads.

The routes build their answers as plain dicts (a command's document is stored with its
idempotency key and replayed as it was); these models only describe them, they are not run
on the way out. `tests/e2e/test_openapi.py` checks real answers against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

Money = str  # a decimal string in major units, "5000.00"
Time = str  # ISO 8601 with its offset
Day = str  # an ISO 8601 date, "2026-12-28"
Percent = str  # a decimal string in percent, "12.68"


class Document(BaseModel):
    """A response document: its fields are all it has."""

    model_config = ConfigDict(extra="forbid")


def answers(model: type[Document], status: int = 200) -> dict[str, Any]:
    """A route's options for answering `model` with `status`, without running the answer
    through the model: `@router.get(path, **answers(LineDocument))`."""
    return {"status_code": status, "response_model": None, "responses": {status: {"model": model}}}
