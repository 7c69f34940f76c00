"""Starting `creditline serve --processes 2` as a user does, for the tests that talk to it: a
subprocess on a free loopback port, and who answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from creditline.api.auth import issue_token
from creditline.config import DEFAULT_KEY_ID, SigningKey
from creditline.kernel.actors import Role
from creditline.kernel.ids import new_id

CLI = Path(sys.executable).parent / "creditline"
SIGNING_KEY = "serve-processes-test-signing-key-of-40-chars"
PROCESSES = 2
START_SECONDS_MAX = 180.0  # two workers importing on a loaded two-core machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def headers_of(role: Role, subject: str) -> dict[str, str]:
    token = issue_token(SigningKey(DEFAULT_KEY_ID, SIGNING_KEY), role, subject, datetime.now(UTC))
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": new_id()}


def process_answering(base_url: str) -> int:
    """The pid of the worker that answers `/healthz` on a new connection."""
    with httpx.Client(base_url=base_url, timeout=10) as fresh:
        return int(fresh.get("/healthz").json()["process"])


def serve_processes(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """`creditline serve --processes 2` on `port`, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(CLI), "serve", "--port", str(port), "--processes", str(PROCESSES)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_until_answering(server: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS_MAX
    while True:
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        try:
            process_answering(base_url)
            return
        except httpx.TransportError:
            time.sleep(0.2)
