"""The problem document (RFC 9457) every error is answered with."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from creditline.api.documents import Document


class FieldError(Document):
    field: str = Field(description="where in the request: a body field, a query parameter")
    message: str


class Problem(Document):
    type: str = Field(examples=["https://creditline.dev/problems/line_not_found"])
    title: str
    status: int
    detail: str
    instance: str = Field(description="the path of the request refused")
    code: str = Field(description="the stable error code", examples=["line_not_found"])
    details: dict[str, Any] | None = Field(
        default=None, description="the facts behind the refusal, by name"
    )
    errors: list[FieldError] | None = Field(
        default=None, description="with invalid_request and invalid_amount: each field refused"
    )
