"""A notice's e-mail is written as bytes by hand (`channels.mail_bytes`); read back by the
`email` package it says what the package's own `EmailMessage` says: the same headers, the
same text."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from creditline.notices.channels import NOTICE_ID_HEADER, folded, mail_bytes

NOW = datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)
NOTICE_ID = "01a2251e-0000-7000-8000-000000000001"
SENDER = "信用额度 <creditline@example.com>"
LONG_EN = "Your credit line is frozen until 2026-12-14: you cannot draw on it until then. " * 3
CASES = [
    ("Short", "Plain ASCII.\nTwo lines.\n"),
    ("A long English subject " * 6, f"{LONG_EN}\n\nRepayments work as usual.\n"),
    ("您的额度暂停使用至 2026-12-14", "您的额度账户 暂停借款至 2026-12-14。\n还款不受影响。\n"),
    ("额度" * 60, "长" * 500 + "\n"),
    ("Dots", ".a line that starts with a dot\n..and two\n.\n"),
    ("Mixed 中文 and English", "Amount: CNY 20,000.00 / 20,000.00 元\n"),
]


def package_mail(to: str, subject: str, body: str) -> EmailMessage:
    """What the `email` package writes for the same notice (the second method)."""
    mail = EmailMessage()
    mail["From"] = SENDER
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(NOW)
    mail["Message-ID"] = f"<{NOTICE_ID}@creditline>"
    mail[NOTICE_ID_HEADER] = NOTICE_ID
    mail.set_content(body)
    return mail


def parsed(raw: bytes) -> EmailMessage:
    found = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(found, EmailMessage)
    return found


@pytest.mark.parametrize(("subject", "body"), CASES)
def test_the_bytes_read_back_as_the_email_package_writes_the_notice(
    subject: str, body: str
) -> None:
    from_header = folded("From", SENDER)
    raw = mail_bytes(from_header, NOTICE_ID, "li.wei@example.com", subject, body, NOW)
    assert raw.isascii()
    lines = raw.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)  # RFC 5322 §2.1.1
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line ends only
    mine = parsed(raw)
    theirs = parsed(package_mail("li.wei@example.com", subject, body).as_bytes())
    for name in ("From", "To", "Subject", "Date", "Message-ID", NOTICE_ID_HEADER):
        assert str(mine[name]) == str(theirs[name]), name
    assert mine.get_content_type() == theirs.get_content_type() == "text/plain"
    assert mine.get_content_charset() == "utf-8"
    assert mine.get_content().replace("\r\n", "\n") == theirs.get_content() == body


@pytest.mark.parametrize(
    "to", ["li wei@example.com", "li.wei@example.com\r\nBcc: x@y", "李@例子.cn"]
)
def test_an_address_that_would_break_the_header_is_refused(to: str) -> None:
    with pytest.raises(ValueError, match="mail header"):
        mail_bytes("From: a@b\r\n", NOTICE_ID, to, "s", "b", NOW)
