"""A dispatcher sends a batch's e-mail over one SMTP session and its webhook requests over
kept-alive connections; a session the server drops is replaced, and no message goes twice."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.notices.channels import NOTICE_ID_HEADER, Email, SmtpSettings, Webhook
from creditline.notices.dispatcher import Dispatcher

LINES = 6
SECRET = "test-webhook-secret-0123456789"


class CountingMailbox:
    """An SMTP handler that keeps each message's notice id, and hangs up after the
    `drop_after`-th message (once), as a server limiting messages per session does."""

    def __init__(self, drop_after: int | None = None) -> None:
        self.port = 0
        self.connections = 0
        self.notice_ids: list[str] = []
        self.drop_after = drop_after

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.notice_ids.append(str(parsed[NOTICE_ID_HEADER]))
        if len(self.notice_ids) == self.drop_after:
            transport = server.transport
            assert transport is not None
            asyncio.get_running_loop().call_soon(transport.close)  # after the 250 below
        return "250 OK"


class CountingController(Controller):
    def factory(self) -> SMTP:
        mailbox = self.handler

        class Counted(SMTP):
            def connection_made(self, transport: Any) -> None:
                mailbox.connections += 1
                super().connection_made(transport)

        return Counted(self.handler, **self.SMTP_kwargs)


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest) -> Iterator[CountingMailbox]:
    mailbox = CountingMailbox(getattr(request, "param", None))
    with socket.socket() as probe:  # aiosmtpd needs a port number, not 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = CountingController(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    mailbox.port = port
    mailbox.connections = 0  # the controller's own, checking that it listens
    yield mailbox
    controller.stop()


def notices_to_send(c: Container, agent: Actor) -> list[str]:
    """`LINES` lines opened and frozen, every borrower with an e-mail address: two notices
    each (the staff member's grant that opens the line, and the freeze) and the opening's
    event, for the webhook alone."""
    for n in range(LINES):
        borrower_id = f"mail-{n}"
        line = c.ledger.open_line(agent, f"o-{n}", borrower_id, "CNY", "20000.00").document
        until = c.clock.now() + timedelta(days=7)
        codes = ["drawdown_velocity"]
        c.ledger.change_limit(agent, f"f-{n}", line["id"], "freeze", codes, until=until)
        address = f"{borrower_id}@example.com"
        c.notices.set_preferences(Actor(borrower_id, Role.BORROWER), address, None)
    return [f"mail-{n}" for n in range(LINES)]


def dispatcher(c: Container, clock: FixedClock, **channels: Any) -> Dispatcher:
    return Dispatcher(c.db, clock, c.notices, c.outbox, **channels)


def test_a_batch_of_e_mail_goes_over_one_smtp_session(
    container: Container, clock: FixedClock, agent: Actor, smtp_server: CountingMailbox
) -> None:
    notices_to_send(container, agent)
    smtp = Email(SmtpSettings("127.0.0.1", smtp_server.port))
    sender = dispatcher(container, clock, email=smtp)
    assert sender.run_until_idle() == {"claimed": 3 * LINES, "delivered": 3 * LINES}
    sender.close()
    assert smtp_server.connections == 1
    assert len(smtp_server.notice_ids) == len(set(smtp_server.notice_ids)) == 2 * LINES


@pytest.mark.parametrize("smtp_server", [2], indirect=True)
def test_a_session_the_server_drops_mid_batch_is_replaced_and_no_message_goes_twice(
    container: Container, clock: FixedClock, agent: Actor, smtp_server: CountingMailbox
) -> None:
    notices_to_send(container, agent)
    smtp = Email(SmtpSettings("127.0.0.1", smtp_server.port))
    sender = dispatcher(container, clock, email=smtp)
    assert sender.run_until_idle() == {"claimed": 3 * LINES, "delivered": 3 * LINES}
    sender.close()
    assert smtp_server.connections == 2  # hung up on after the second message
    assert Counter(smtp_server.notice_ids) == {i: 1 for i in smtp_server.notice_ids}
    assert len(smtp_server.notice_ids) == 2 * LINES


def test_a_batch_of_webhook_requests_goes_over_one_kept_alive_connection(
    container: Container, clock: FixedClock, agent: Actor
) -> None:
    connections: list[tuple[str, int]] = []
    received: list[str] = []

    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps the connection open between requests

        def setup(self) -> None:
            connections.append(self.client_address)
            super().setup()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append(self.headers["Creditline-Notice-Id"])
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        notices_to_send(container, agent)
        hook = Webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", SECRET)
        sender = dispatcher(container, clock, webhook=hook)
        assert sender.run_until_idle() == {"claimed": 3 * LINES, "delivered": 3 * LINES}
        sender.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert len(received) == len(set(received)) == 3 * LINES
    assert len(connections) == 1


def test_a_connection_the_endpoint_closes_is_replaced_and_no_request_goes_twice(
    container: Container, clock: FixedClock, agent: Actor
) -> None:
    connections: list[tuple[str, int]] = []
    received: list[str] = []

    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            connections.append(self.client_address)
            super().setup()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append(self.headers["Creditline-Notice-Id"])
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            # Every fifth request it hangs up without saying so (an idle timeout, a restart).
            self.close_connection = len(received) % 5 == 0

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        notices_to_send(container, agent)
        hook = Webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", SECRET)
        sender = dispatcher(container, clock, webhook=hook)
        assert sender.run_until_idle() == {"claimed": 3 * LINES, "delivered": 3 * LINES}
        sender.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert len(received) == len(set(received)) == 3 * LINES
    assert len(connections) == 3 * LINES // 5 + 1
