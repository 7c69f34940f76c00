"""HTTP routes of notices: the borrower's inbox and how they want to hear from the lender."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from creditline.api.deps import ActorDep, ContainerDep, IdempotencyKeyDep
from creditline.notices.service import INBOX_LISTED_MAX

router = APIRouter(prefix="/v1/me")


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: StrictStr | None = Field(default=None, max_length=254, examples=["li.wei@example.com"])
    language: Literal["zh-CN", "en"] | None = None


@router.get("/notices")
def my_notices(
    c: ContainerDep,
    actor: ActorDep,
    lang: Annotated[Literal["zh-CN", "en"] | None, Query()] = None,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=INBOX_LISTED_MAX)] = 50,
) -> dict[str, Any]:
    """The borrower's notices, newest first, in their language (or `lang`)."""
    return c.notices.inbox(actor, lang, unread, limit)


@router.post("/notices/{notice_id}/read")
def mark_read(
    notice_id: str, c: ContainerDep, actor: ActorDep, key: IdempotencyKeyDep, response: Response
) -> dict[str, Any]:
    """Mark a notice read."""
    result = c.notices.mark_read(actor, key, notice_id)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result.document


@router.get("/preferences")
def my_preferences(c: ContainerDep, actor: ActorDep) -> dict[str, Any]:
    """Where and in which language notices reach the borrower."""
    return c.notices.my_preferences(actor)


@router.put("/preferences")
def set_preferences(body: Preferences, c: ContainerDep, actor: ActorDep) -> dict[str, Any]:
    """Set the e-mail address notices go to and their language (null: the profile's)."""
    return c.notices.set_preferences(actor, body.email, body.language)
