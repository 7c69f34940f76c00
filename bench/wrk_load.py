"""`creditline serve` under wrk, for bench/http_api.py: the server on a free loopback port, the
load, and the CPU its processes spent (Linux /proc), so that a figure reads as CPU time per
request beside the rate: the CPU is steadier than the rate on a shared machine.

A server can run another checkout's code (`src`: that checkout's `src` folder, put first on
its PYTHONPATH): the same run then measures the change against what it replaces.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from creditline.api.auth import issue_token
from creditline.config import DEFAULT_KEY_ID, SigningKey
from creditline.kernel.actors import Role

CLI = Path(sys.executable).parent / "creditline"
START_SECONDS_MAX = 180.0  # two workers importing on a loaded two-core machine
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")

# wrk's script: each thread its own token and its share of the lines, each request its own
# key; at the end one JSON line with the figures wrk measured.
WRK_SCRIPT = """
local lines = {%(lines)s}
local tokens = {%(tokens)s}
local threads, run, method, body = %(threads)d, "%(run)s", "%(method)s", '%(body)s'
local counter, headers, made = 0, {}, 0
-- `tid` is each thread's global, set by setup (a local would hide it).
function setup(thread)
  thread:set("tid", made)
  made = made + 1
end
function init(args)
  headers["Authorization"] = "Bearer " .. tokens[tid + 1]
  headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local line = lines[((counter * threads) + tid) %% #lines + 1]
  if method == "GET" then
    return wrk.format("GET", "/v1/lines/" .. line, headers)
  end
  headers["Idempotency-Key"] = run .. "-" .. tid .. "-" .. counter
  return wrk.format("POST", "/v1/lines/" .. line .. "/drawdowns", headers, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "seconds": %%.6f, "p50_ms": %%.3f, "p99_ms": %%.3f, '
    .. '"status_errors": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU spent so far by `pid` and every process under it."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text(encoding="ascii")
            children = Path(f"/proc/{current}/task/{current}/children").read_text(encoding="ascii")
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_SECOND  # utime, stime
        pending.extend(int(child) for child in children.split())
    return total


class Server:
    """`creditline serve --processes N` on a free loopback port; with `src`, that checkout's
    code."""

    def __init__(
        self, env: dict[str, str], processes: int, folder: Path, src: Path | None = None
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.folder = folder  # its log, and wrk's scripts
        log = folder / f"serve-{self.port}.log"
        self._log = log.open("wb")
        if src is not None:
            env = {**env, "PYTHONPATH": os.pathsep.join([str(src), env.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen(
            [str(CLI), "serve", "--port", str(self.port), "--processes", str(processes)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_SECONDS_MAX
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"creditline serve exited {self.process.returncode}; see {log}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).is_success:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"creditline serve did not answer in {START_SECONDS_MAX:.0f} s; see {log}")

    def cpu_seconds(self) -> float:
        """The CPU the supervisor and its workers have spent so far."""
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def wrk(
    server: Server,
    op: str,
    lines: list[str],
    clients: int,
    seconds: float,
    folder: Path,
    signing_key: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    """wrk's figures for `seconds` of `op` at `clients` connections, and `cpu_seconds`: what
    the server's processes spent meanwhile."""
    threads = min(2, clients)
    now = datetime.now(UTC)
    key = SigningKey(DEFAULT_KEY_ID, signing_key)
    tokens = [issue_token(key, Role.SERVICE, f"bench-{t}", now) for t in range(threads)]
    script = folder / f"{op}.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "lines": ", ".join(f'"{line}"' for line in lines),
            "tokens": ", ".join(f'"{token}"' for token in tokens),
            "threads": threads,
            "run": uuid.uuid4().hex[:12],
            "method": "POST" if op == "hold" else "GET",
            "body": json.dumps(body),
        },
        encoding="utf-8",
    )
    command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s"]
    command += ["-s", str(script)]  # a slow answer is a latency, not a failure
    cpu_before = server.cpu_seconds()
    done = subprocess.run(
        [*command, server.base_url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    cpu_seconds = server.cpu_seconds() - cpu_before
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["status_errors"] or figures["socket_errors"]:
        raise SystemExit(f"wrk saw failed requests: {figures}\n{done.stdout}")
    return {**figures, "cpu_seconds": cpu_seconds}
