"""Channels that carry a notice out of creditline: the lender's webhook and e-mail over SMTP.

(The in-app inbox is a table, written by the dispatcher in the transaction that records the
delivery.) A channel raises `DeliveryFailed` when the message may not have arrived; the
dispatcher tries again later, and receivers dedupe on the notice id.

Webhook requests are signed like this: header `Creditline-Signature: t=<unix seconds>,v1=<hex>`
where hex is HMAC-SHA256(secret, "<t>.<body>"); `verify_signature` is what a receiver runs,
with a replay window.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import http.client
import json
import smtplib
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_HEADER = "Creditline-Signature"
NOTICE_ID_HEADER = "Creditline-Notice-Id"
REPLAY_WINDOW_SECONDS = 300
WEBHOOK_TIMEOUT_SECONDS = 10.0
SMTP_TIMEOUT_SECONDS = 10.0
MAIL_LINE_LENGTH_MAX = 78  # longer lines, or any non-ASCII text, go base64
SUBJECTS_CACHED_MAX = 1024


class DeliveryFailed(Exception):
    """The message may not have arrived; try again later."""


@dataclass(frozen=True, slots=True)
class Message:
    """An outbox message as channels see it; `id` is the stable notice id."""

    id: str
    topic: str
    line_id: str
    borrower_id: str
    ref_id: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the signature header for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, now: datetime, window: int = REPLAY_WINDOW_SECONDS
) -> bool:
    """True when `header` signs `body` with `secret` and was made within `window` seconds."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if not given.isascii():  # compare_digest raises on non-ASCII text: a forged header is False
        return False
    if abs(now.timestamp() - timestamp) > window:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


class Webhook:
    """POSTs every message, notices and events, to the lender's endpoint, signed.

    Over kept-alive HTTP/1.1 connections (`http.client`: a third of the CPU of a request
    through httpx, docs/performance.md §8): each sending thread takes one from a small pool and
    gives it back, for the dispatcher's life. A reused connection the endpoint has closed
    meanwhile is replaced and the request sent once on the new one.
    """

    name = "webhook"

    def __init__(self, url: str, secret: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a webhook URL is http(s)://host/path, not {url!r}")
        self._secret = secret
        self._https = parts.scheme == "https"
        self._address = (parts.hostname, parts.port)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def send(self, message: Message, kind: str | None, now: datetime) -> str:
        """POST the signed message; what the receiver answered, or `DeliveryFailed`."""
        body = json.dumps(
            {
                "id": message.id,
                "topic": message.topic,
                "kind": kind,
                "line_id": message.line_id,
                "borrower_id": message.borrower_id,
                "ref_id": message.ref_id,
                "created_at": message.created_at.isoformat(),
                "payload": message.payload,
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            NOTICE_ID_HEADER: message.id,
            SIGNATURE_HEADER: sign(self._secret, int(now.timestamp()), body),
        }
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        try:
            status = self._post(connection, body, headers)
        except (OSError, http.client.HTTPException) as error:
            raise DeliveryFailed(f"webhook: {type(error).__name__}: {error}") from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"webhook: HTTP {status}")
        return f"HTTP {status}"

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _post(
        self, connection: http.client.HTTPConnection | None, body: bytes, headers: dict[str, str]
    ) -> int:
        """POST on `connection` (None: a new one) and give it back to the pool; the status."""
        fresh = connection is None
        connection = connection or self._connect()
        try:
            try:
                status = _post(connection, self._target, body, headers)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if fresh:
                    raise
                connection.close()  # the endpoint closed it while it was idle: a new one
                status = _post(connection, self._target, body, headers)
        except BaseException:
            connection.close()
            raise
        with self._lock:
            self._idle.append(connection)
        return status

    def _connect(self) -> http.client.HTTPConnection:
        host, port = self._address
        if self._https:
            context = ssl.create_default_context()
            return http.client.HTTPSConnection(
                host, port, timeout=WEBHOOK_TIMEOUT_SECONDS, context=context
            )
        return http.client.HTTPConnection(host, port, timeout=WEBHOOK_TIMEOUT_SECONDS)


def _post(
    connection: http.client.HTTPConnection, target: str, body: bytes, headers: dict[str, str]
) -> int:
    """One request and its whole answer (so that the connection can take the next)."""
    connection.request("POST", target, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    if response.will_close:
        connection.close()  # reopened by the next request
    return response.status


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "creditline@localhost"
    ca_file: str | None = None  # trust this CA for STARTTLS (default: the system's)


class Email:
    """Sends a rendered notice to the borrower's address; Message-ID names the notice.

    A session is reused from one message to the next (each sending thread takes its own from
    a small pool; `close` ends them, once a batch is sent): a session costs a connection, the
    greeting, EHLO and STARTTLS, several times the message itself. A reused session the server
    has dropped meanwhile is replaced, and the message sent once on the new one. The message
    goes as bytes made by `mail_bytes` (the `email` package's objects cost more than the
    sending).
    """

    name = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._from_header = folded("From", settings.sender)
        self._envelope_from = parseaddr(settings.sender)[1] or settings.sender
        self._idle: list[smtplib.SMTP] = []
        self._lock = threading.Lock()

    def send(self, message: Message, to: str, subject: str, body: str, now: datetime) -> str:
        """Send the rendered notice over SMTP; `DeliveryFailed` when it could not."""
        mail = mail_bytes(self._from_header, message.id, to, subject, body, now)
        with self._lock:
            session = self._idle.pop() if self._idle else None
        try:
            if session is not None:
                try:
                    session.sendmail(self._envelope_from, [to], mail)
                except smtplib.SMTPServerDisconnected:
                    session = None  # the server closed it while it was idle: a new one
            if session is None:
                session = self._connect()
                session.sendmail(self._envelope_from, [to], mail)
        except (OSError, smtplib.SMTPException) as error:
            if session is not None:
                _quit(session)
            raise DeliveryFailed(f"email: {type(error).__name__}: {error}") from None
        with self._lock:
            self._idle.append(session)
        return to

    def close(self) -> None:
        """End the idle sessions (a batch is sent)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for session in idle:
            _quit(session)

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        session = smtplib.SMTP(s.host, s.port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            if s.starttls:
                session.starttls(context=ssl.create_default_context(cafile=s.ca_file))
            if s.username:
                session.login(s.username, s.password or "")
        except BaseException:
            _quit(session)
            raise
        return session


def _quit(session: smtplib.SMTP) -> None:
    """End a session politely if the server still listens; close it in any case."""
    try:
        session.quit()
    except (OSError, smtplib.SMTPException):
        session.close()


def mail_bytes(
    from_header: str, notice_id: str, to: str, subject: str, body: str, now: datetime
) -> bytes:
    """A notice's e-mail as SMTP sends it (CRLF line ends): a plain-text UTF-8 MIME message
    whose Message-ID names the notice, so that mail systems dedupe a resend. `from_header` is
    the folded From line."""
    if not to.isascii() or not to.isprintable() or any(ch.isspace() for ch in to):
        raise ValueError("the address cannot go in a mail header")  # preferences refuse these
    encoding, content = _body(body)
    head = (
        f"{from_header}To: {to}\r\n{_subject(subject)}Date: {format_datetime(now)}\r\n"
        f"Message-ID: <{notice_id}@creditline>\r\n{NOTICE_ID_HEADER}: {notice_id}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    )
    return head.encode("ascii") + content


def folded(name: str, value: str) -> str:
    """The header line `name: value` as `EmailMessage` writes it for SMTP: folded, non-ASCII
    text encoded (RFC 2047), ending in CRLF."""
    policy = email.policy.SMTP
    return str(policy.header_factory(name, value).fold(policy=policy))


@lru_cache(maxsize=SUBJECTS_CACHED_MAX)
def _subject(subject: str) -> str:
    """The Subject line (a batch's notices of one kind mostly share theirs)."""
    return folded("Subject", subject)


def _body(body: str) -> tuple[str, bytes]:
    """The body with CRLF line ends, and its transfer encoding: 7bit when it is ASCII in
    lines of at most 78 characters (as the `email` package chooses), else base64."""
    lines = body.splitlines()
    canonical = "\r\n".join(lines) + "\r\n"
    if canonical.isascii() and all(len(line) <= MAIL_LINE_LENGTH_MAX for line in lines):
        return "7bit", canonical.encode("ascii")
    return "base64", base64.encodebytes(canonical.encode()).replace(b"\n", b"\r\n")
