"""The borrower's inbox and how they want to hear from the lender (`/v1/me`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field, StrictStr

from creditline.api.bodies import Body
from creditline.api.deps import IdempotencyKeyDep, NoticesDep, PermissionRoute, requires
from creditline.api.documents import answers
from creditline.api.documents import notices as docs
from creditline.api.replies import command_reply
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission
from creditline.notices.service import INBOX_LISTED_MAX

router = APIRouter(prefix="/v1/me", route_class=PermissionRoute)

InboxUser = Annotated[Actor, requires(Permission.USE_INBOX)]


class SetPreferences(Body):
    email: StrictStr | None = Field(default=None, max_length=254, examples=["li.wei@example.com"])
    language: Literal["zh-CN", "en"] | None = None


@router.get("/notices", **answers(docs.Inbox))
def my_notices(
    notices: NoticesDep,
    actor: InboxUser,
    lang: Annotated[Literal["zh-CN", "en"] | None, Query()] = None,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=INBOX_LISTED_MAX)] = 50,
) -> dict[str, Any]:
    """The borrower's notices, newest first, in their language (or `lang`)."""
    return notices.inbox(actor, lang, unread, limit)


@router.post("/notices/{notice_id}/read", **answers(docs.Read))
def mark_read(
    notice_id: str,
    notices: NoticesDep,
    actor: InboxUser,
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Mark a notice read."""
    return command_reply(notices.mark_read(actor, key, notice_id), response)


@router.get("/preferences", **answers(docs.Preferences))
def my_preferences(notices: NoticesDep, actor: InboxUser) -> dict[str, Any]:
    """Where and in which language notices reach the borrower."""
    return notices.my_preferences(actor)


@router.put("/preferences", **answers(docs.Preferences))
def set_preferences(body: SetPreferences, notices: NoticesDep, actor: InboxUser) -> dict[str, Any]:
    """Set the e-mail address notices go to and their language (null: the profile's)."""
    return notices.set_preferences(actor, body.email, body.language)
