"""The borrower's inbox and preferences (`creditline.notices.service`)."""

from __future__ import annotations

from typing import Literal

from creditline.api.documents import Document, Time


class Notice(Document):
    id: str
    kind: str
    line_id: str
    language: Literal["zh-CN", "en"]
    subject: str
    body: str
    created_at: Time
    read_at: Time | None


class Inbox(Document):
    notices: list[Notice]


class Read(Document):
    id: str
    read_at: Time


class Preferences(Document):
    borrower_id: str
    email: str | None
    language: Literal["zh-CN", "en"] | None
