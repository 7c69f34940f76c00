"""E-mail over STARTTLS to a real SMTP server that requires it, with a certificate the test
makes; a server we cannot trust, or a plain session, fails delivery (to be retried)."""

from __future__ import annotations

import socket
import ssl
import subprocess
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from creditline.notices.channels import DeliveryFailed, Email, Message, SmtpSettings

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


class Collect:
    def __init__(self) -> None:
        self.mails: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(envelope.content)
        return "250 OK"


def certificate(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path):
    key, cert = certificate(tmp_path, "server")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Collect()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True
    )
    controller.start()
    yield controller, handler, cert
    controller.stop()


def message() -> Message:
    return Message(
        id="01a2251e-0000-7000-8000-000000000001",
        topic="notice.loan_settled",
        line_id="line-1",
        borrower_id="b-1",
        ref_id="loan-1",
        payload={},
        created_at=NOW,
        attempts=1,
    )


def test_starttls_delivers_to_a_server_that_requires_it(server, tmp_path: Path) -> None:
    controller, handler, cert = server
    email = Email(SmtpSettings("127.0.0.1", controller.port, starttls=True, ca_file=str(cert)))
    assert email.send(message(), "li.wei@example.com", "主题", "正文 body", NOW) == (
        "li.wei@example.com"
    )
    [raw] = handler.mails
    mail = message_from_bytes(raw)
    assert mail["Message-ID"] == "<01a2251e-0000-7000-8000-000000000001@creditline>"
    assert mail.get_payload(decode=True).decode().rstrip() == "正文 body"


def test_no_tls_or_an_untrusted_certificate_is_a_failed_delivery(server, tmp_path: Path) -> None:
    controller, handler, _ = server
    plain = Email(SmtpSettings("127.0.0.1", controller.port, starttls=False))
    with pytest.raises(DeliveryFailed):
        plain.send(message(), "li.wei@example.com", "s", "b", NOW)
    _, other = certificate(tmp_path, "stranger")
    untrusted = Email(SmtpSettings("127.0.0.1", controller.port, starttls=True, ca_file=str(other)))
    with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
        untrusted.send(message(), "li.wei@example.com", "s", "b", NOW)
    assert handler.mails == []
