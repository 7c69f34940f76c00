"""Outbox delivery throughput: notices to the inbox, e-mail and a webhook, on both stores.

Opens N lines and freezes each (3 messages a line: the opening event, the notice of the staff
member's grant that opened it and the freeze notice; every borrower has an e-mail address),
then times `Dispatcher.run_until_idle` delivering all of them, on SQLite and on PostgreSQL: to
the in-app inbox alone (e-mail and the webhook not configured), then to the inbox, a real SMTP
server (aiosmtpd) and a real webhook receiver (HTTP/1.1, keeping connections open) on
127.0.0.1 (both in a process of their own, as a local mail server is); on PostgreSQL also
with two dispatchers side by side. Prints inbox notices and e-mails a second against the
targets (2,000 and 500), the CPU time a message of the bench's process and of the receivers',
the load average, the SMTP sessions and HTTP connections used, and checks that every message
was delivered once per channel. Last, the same e-mail built and sent both ways over one
session in alternating rounds: the `email` package's `EmailMessage` and `send_message` (as
before), and `channels.mail_bytes` and `sendmail` (now).

    .venv/bin/python bench/dispatch.py                 # 2,000 lines, 6,000 messages
    .venv/bin/python bench/dispatch.py --lines 500
    .venv/bin/python bench/dispatch.py --smoke         # 50 lines, in seconds (the tests)

On PostgreSQL it works in its own database beside `--postgres-url`'s, dropped after each run.
It is a report, not a test: it exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import smtplib
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from databases import add_postgres_url, postgres_database
from sqlalchemy import func, select
from uncapped import uncapped_products

from creditline.bootstrap import Container, build
from creditline.config import Settings, shipped_policy_file
from creditline.kernel.actors import Actor, Role
from creditline.notices.channels import NOTICE_ID_HEADER, folded, mail_bytes
from creditline.notices.tables import deliveries, outbox

BENCH_DATABASE = "creditline_bench_dispatch"
POLICY = shipped_policy_file()
SECRET = "bench-webhook-secret-0123456789"
SMOKE_LINES = 50
INBOX_TARGET, EMAIL_TARGET = 2000, 500  # notices a second (issue 16, item 4)
# A freeze notice as a borrower in China reads it (notices/templates/line_frozen.zh-CN.j2).
SENDER, NOW = "creditline@localhost", datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
FROM_HEADER = folded("From", SENDER)
SUBJECT = "您的额度暂停使用至 2026-12-14"
BODY = (
    "您的额度账户 019aef10-7c3e-7000-8000-000000000001 暂停借款至 2026-12-14。"
    "授信额度 20,000.00 元 保持不变,到期后自动恢复。\n还款不受影响。\n\n"
    "原因:短期内借款过于频繁。\n您可以:等待至 2026-12-14。\n"
)
EMAIL_ROUNDS = 3


# What the receivers took, counted in their process: e-mails, SMTP sessions, webhook requests,
# HTTP connections.
MAILS, SESSIONS, REQUESTS, CONNECTIONS = range(4)


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps a connection open between requests, as servers do
    counts: Any = None  # set in the receivers' process

    def setup(self) -> None:
        with self.counts.get_lock():
            self.counts[CONNECTIONS] += 1
        super().setup()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.counts.get_lock():
            self.counts[REQUESTS] += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _Mailbox:
    def __init__(self, counts: Any) -> None:
        self.counts = counts
        self.sessions: set[int] = set()

    async def handle_DATA(self, server, session, envelope):
        self.sessions.add(id(session))
        with self.counts.get_lock():
            self.counts[MAILS] += 1
            self.counts[SESSIONS] = len(self.sessions)
        return "250 OK"


def _serve(counts: Any, ports: Connection, stop: Any) -> None:
    """The receivers' process: the webhook endpoint and the SMTP server until `stop` is set."""
    _Receiver.counts = counts
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    with socket.socket() as probe:  # aiosmtpd needs a port number, not 0
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(_Mailbox(counts), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    ports.send((http.server_port, smtp_port))
    stop.wait()
    smtp.stop()
    http.shutdown()


class Received:
    """What the receivers took so far, and the CPU time their process used."""

    def __init__(self, counts: Any, pid: int) -> None:
        self._counts = counts
        self._pid = pid

    def __getitem__(self, what: int) -> int:
        return int(self._counts[what])

    def cpu_seconds(self) -> float:
        """User and system time of the receivers' process (Linux; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self._pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def receivers() -> Iterator[tuple[str, int, Received]]:
    """A webhook endpoint (HTTP/1.1) and an SMTP server (aiosmtpd) on 127.0.0.1, in a process
    of their own, as a local mail server is: in the bench's process they would take the
    interpreter's lock from the dispatcher (a third of it, py-spy --gil)."""
    spawn = multiprocessing.get_context("spawn")
    counts = spawn.Array("q", 4)
    here, there = spawn.Pipe()
    stop = spawn.Event()
    process = spawn.Process(target=_serve, args=(counts, there, stop), daemon=True)
    process.start()
    http_port, smtp_port = here.recv()
    try:
        yield f"http://127.0.0.1:{http_port}/hook", smtp_port, Received(counts, process.pid or 0)
    finally:
        stop.set()
        process.join(timeout=10)


def container(url: str, hook: str, smtp_port: int, inbox_only: bool) -> Container:
    """The application on `url`; sending to the receivers unless `inbox_only` (e-mail and
    the webhook not configured: recorded as such for a whole batch)."""
    channels = {} if inbox_only else {"webhook_url": hook, "webhook_secret": SECRET}
    if not inbox_only:
        channels |= {"smtp_host": "127.0.0.1", "smtp_port": smtp_port}
    settings = Settings(
        database_url=url,
        policy_file=POLICY,
        products_file=uncapped_products(),  # lines opened by staff with no income on file
        review_triggers=False,
        **channels,
    )
    return build(settings)


# Each line's notices: the staff member's grant that opens it, and the freeze.
NOTICES_PER_LINE = 2


def load(c: Container, lines: int) -> float:
    agent = Actor("bench", Role.AGENT)
    started = time.perf_counter()
    for n in range(lines):
        borrower = f"bench-{n:06d}"
        line = c.ledger.open_line(agent, f"open-{n}", borrower, "CNY", "20000.00").document
        c.ledger.change_limit(
            agent,
            f"freeze-{n}",
            line["id"],
            "freeze",
            ["drawdown_velocity"],
            until=c.clock.now() + timedelta(days=7),
        )
        c.notices.set_preferences(Actor(borrower, Role.BORROWER), f"{borrower}@example.com", None)
    return time.perf_counter() - started


def delivered(c: Container) -> tuple[int, int, dict[str, int]]:
    with c.db.reading() as connection:
        messages = connection.execute(select(func.count()).select_from(outbox)).scalar_one()
        done = connection.execute(
            select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_not(None))
        ).scalar_one()
        channels = dict(
            connection.execute(
                select(deliveries.c.channel, func.count()).group_by(deliveries.c.channel)
            ).all()
        )
    return messages, done, channels


def run(label: str, url: str, lines: int, dispatchers: int, inbox_only: bool = False) -> None:
    with receivers() as (hook, smtp_port, received):
        built = [container(url, hook, smtp_port, inbox_only) for _ in range(dispatchers)]
        load_seconds = load(built[0], lines)
        started = time.perf_counter()
        cpu_started, receivers_started = time.process_time(), received.cpu_seconds()
        threads = [threading.Thread(target=c.dispatcher.run_until_idle) for c in built]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        receivers_seconds = received.cpu_seconds() - receivers_started
        messages, done, channels = delivered(built[0])
        what = "inbox only" if inbox_only else "inbox, e-mail and webhook"
        print(
            f"{label}, {what}: {messages:,} messages ({lines:,} lines loaded in "
            f"{load_seconds:.1f} s); {dispatchers} dispatcher(s) delivered {done:,} in "
            f"{seconds:.2f} s = {done / seconds:,.0f} messages/s"
        )
        print(
            f"  CPU {cpu_seconds:.2f} s, {cpu_seconds / max(done, 1) * 1e6:,.0f} µs a message "
            f"(the receivers' process {receivers_seconds:.2f} s); load average {load_average()}"
        )
        inboxed = channels.get("inbox", 0)
        if inbox_only:
            print(
                f"  inbox {inboxed:,} notices, {inboxed / seconds:,.0f}/s "
                f"({inboxed / seconds / INBOX_TARGET:.2f}x the {INBOX_TARGET:,}/s target)"
            )
            complete = done == messages and inboxed == NOTICES_PER_LINE * lines
        else:
            mails = received[MAILS]
            print(
                f"  e-mail {mails:,}, {mails / seconds:,.0f}/s "
                f"({mails / seconds / EMAIL_TARGET:.2f}x the {EMAIL_TARGET}/s target) "
                f"over {received[SESSIONS]:,} SMTP session(s); webhook "
                f"{received[REQUESTS]:,} over {received[CONNECTIONS]:,} connection(s)"
            )
            complete = done == messages == received[REQUESTS] and mails == NOTICES_PER_LINE * lines
        print(f"  channels recorded {channels} [{'OK' if complete else 'MISMATCH'}]")
        for c in built:
            c.close()


def by_package(session: smtplib.SMTP, n: int) -> None:
    """The e-mail as it was sent before: an `EmailMessage`, flattened by `send_message`."""
    mail = EmailMessage()
    mail["From"] = SENDER
    mail["To"] = "li.wei@example.com"
    mail["Subject"] = SUBJECT
    mail["Date"] = format_datetime(NOW)
    mail["Message-ID"] = f"<{n}@creditline>"
    mail[NOTICE_ID_HEADER] = str(n)
    mail.set_content(BODY)
    session.send_message(mail)


def by_bytes(session: smtplib.SMTP, n: int) -> None:
    """The e-mail as it is sent now: `mail_bytes`, then `sendmail`."""
    mail = mail_bytes(FROM_HEADER, str(n), "li.wei@example.com", SUBJECT, BODY, NOW)
    session.sendmail(SENDER, ["li.wei@example.com"], mail)


def email_building(smtp_port: int, received: Received, mails: int) -> None:
    """The same notice sent both ways over one kept session, in alternating rounds: e-mails a
    second, CPU per e-mail (the sender's)."""
    figures: dict[str, list[tuple[float, float]]] = {"EmailMessage + send_message": []}
    figures["mail_bytes + sendmail"] = []
    for _ in range(EMAIL_ROUNDS):
        for (label, rounds), send in zip(figures.items(), (by_package, by_bytes), strict=True):
            session = smtplib.SMTP("127.0.0.1", smtp_port)
            before = received[MAILS]
            started, cpu_started = time.perf_counter(), time.process_time()
            for n in range(mails):
                send(session, n)
            rounds.append((time.perf_counter() - started, time.process_time() - cpu_started))
            session.quit()
            assert received[MAILS] - before == mails, label
    print(f"E-mail building, {mails:,} zh-CN notices a round, one session, {EMAIL_ROUNDS} rounds:")
    medians = {}
    for label, rounds in figures.items():
        seconds = statistics.median(wall for wall, _ in rounds)
        cpu = statistics.median(cpu for _, cpu in rounds)
        medians[label] = seconds
        print(
            f"  {label}: median {mails / seconds:,.0f} e-mails/s, "
            f"{cpu / mails * 1e6:,.0f} µs CPU an e-mail"
        )
    before, now = medians.values()
    print(f"  mail_bytes + sendmail / EmailMessage + send_message = {before / now:.2f}x")


def load_average() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    add_postgres_url(parser)
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_LINES} lines")
    args = parser.parse_args(argv)
    if args.smoke:
        args.lines = SMOKE_LINES
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores")
    for inbox_only in (True, False):
        with tempfile.TemporaryDirectory() as directory:
            run("SQLite", f"sqlite:///{directory}/bench.db", args.lines, 1, inbox_only)
        with postgres_database(args.postgres_url, BENCH_DATABASE) as url:
            run("PostgreSQL", url, args.lines, 1, inbox_only)
    with postgres_database(args.postgres_url, BENCH_DATABASE) as url:
        run("PostgreSQL", url, args.lines, 2)
    with receivers() as (_, smtp_port, received):
        email_building(smtp_port, received, NOTICES_PER_LINE * args.lines)
    print(f"Command: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
