"""Advance notices of a policy change at book scale: queued at approval, delivered to the inbox.

Issue 12, item 4: 1,000,000 borrowers adversely affected by a policy version get their
`policy_change` notices queued in under 60 s (set-based, in the approval's transaction) and
delivered to their inbox at 2,000 a second or more. On SQLite and on PostgreSQL:

1. A candidate version is submitted through `PolicyRegistry.submit`. Its simulation is written
   straight into the store as `policy simulate` stores one (the simulation, its step, and one
   row per affected line with its projected cut, ids made by the store); the book itself is
   not loaded: approval and delivery read only the simulation's lines.
2. `PolicyRegistry.approve` is timed: maker-checker, the guardrail, the notice period, the
   pending changes and their notices, two INSERT … SELECT statements in one transaction.
3. `Dispatcher.run_until_idle` is timed delivering every notice to the inbox (no e-mail or
   webhook configured: those channels are recorded as not configured, as in production
   without them). Every notice must be in its borrower's inbox once, its message delivered.

    .venv/bin/python bench/policy_notices.py                 # 1,000,000 borrowers, both stores
    .venv/bin/python bench/policy_notices.py --borrowers 100000 --stores sqlite
    .venv/bin/python bench/policy_notices.py --smoke         # 3,000 borrowers, in seconds

It prints each figure and its ratio to the target (the queueing target is a rate: 1,000,000 in
60 s, 16,667 notices/s). On PostgreSQL it works in its own database beside `--postgres-url`'s,
dropped after the run. A report, not a test: it exits 0 whatever the figures, and non-zero
only when a check fails (a notice missing or delivered twice is a bug, not a figure).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from typing import Any

import yaml
from databases import add_postgres_url, postgres_database
from sqlalchemy import func, select, text

from creditline.bootstrap import Container, build
from creditline.config import Settings, shipped_policy_file
from creditline.decisions import change_store, policy_store
from creditline.decisions.lifecycle import State, Step
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.notices.tables import deliveries, inbox, outbox

BENCH_DATABASE = "creditline_bench_notices"
AT = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
ANALYST = Actor("bench-analyst", Role.ANALYST)
APPROVER = Actor("bench-approver", Role.APPROVER)
BORROWERS_FULL, BORROWERS_SMOKE = 1_000_000, 3_000
QUEUE_SECONDS_TARGET, QUEUE_BORROWERS_TARGET = 60.0, 1_000_000
DELIVERY_RATE_TARGET = 2_000.0  # notices a second into the inbox
# One projected cut per line, as `AffectedLine.change` writes it (the shipped rule's).
CHANGE = json.dumps(
    {
        "action": "decrease",
        "currency": "CNY",
        "limit_after": "10000.00",
        "limit_after_minor": 1_000_000,
        "limit_before": "20000.00",
        "limit_before_minor": 2_000_000,
        "reason_codes": ["multiple_lenders"],
        "rule": "multi-lender",
    },
    sort_keys=True,
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def candidate() -> dict[str, Any]:
    """The shipped policy as a new version that may touch every line: approval reads only the
    simulation, which the bench writes, not the rules."""
    document = yaml.safe_load(shipped_policy_file().read_text(encoding="utf-8"))
    document["version"] = "2026.12.1"
    document["guardrails"] = {"adverse_share_max": "1"}
    return dict(document)


def ordered_id_sql(dialect: str, variant: str) -> str:
    """The i-th of a run of UUIDv7s made in one go, as `new_id` makes them: the milliseconds,
    then a 12-bit counter that moves the milliseconds on when it runs over (and, to tell the
    line, change and notice ids of a row apart, `variant` and i where `new_id` puts random
    bits)."""
    ms = "(CAST(:ms AS BIGINT) + (i >> 12))"
    if dialect == "postgresql":
        return (
            f"lpad(to_hex({ms} >> 16), 8, '0') || '-' || lpad(to_hex({ms} & 65535), 4, '0') "
            f"|| '-7' || lpad(to_hex(i & 4095), 3, '0') || '-{variant}000-' "
            "|| lpad(to_hex(i), 12, '0')"
        )
    return f"printf('%08x-%04x-7%03x-{variant}000-%012x', {ms} >> 16, {ms} & 65535, i & 4095, i)"


def simulated(c: Container, label: tuple[str, str], borrowers: int) -> None:
    """The simulation `policy simulate` would store for a book of `borrowers` lines that the
    candidate all cuts: its row, its step and its lines (their ids in creation order, as
    `new_id` makes them), in one transaction."""
    active = c.decisions.engine.policy.label
    line, change, notice = (ordered_id_sql(c.db.dialect, v) for v in "89a")
    number = "lpad(CAST(i AS TEXT), 7, '0')"
    if c.db.dialect == "sqlite":
        number = "substr('000000' || i, -7)"  # the last 7 characters
    lines = f"""
        INSERT INTO policy_simulation_lines
            (simulation_id, line_id, change_id, notice_id, borrower_id, change)
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :borrowers)
        SELECT :simulation, {line}, {change}, {notice}, 'bench-' || {number}, :change FROM n
    """
    with c.db.engine.begin() as connection:
        counts = (borrowers, borrowers, 0)
        summary = {"adverse_count": borrowers, "against": active, "bench": True}
        simulation = change_store.insert_simulation(
            connection, label, active, ANALYST.scope, AT, counts, summary, {}
        )
        step = Step(State.SIMULATED, ANALYST.scope, AT, None, simulation_id=simulation)
        policy_store.insert_step(connection, label, step)
        ms = time.time_ns() // 1_000_000
        parameters = {"borrowers": borrowers, "simulation": simulation, "change": CHANGE, "ms": ms}
        connection.execute(text(lines), parameters)


def verdict(ratio: float) -> str:
    return "PASS" if ratio >= 1 else "MISS"


def counted(c: Container) -> dict[str, int]:
    with c.db.reading() as connection:

        def count(query: Any) -> int:
            return int(connection.execute(query).scalar_one())

        return {
            "messages": count(select(func.count()).select_from(outbox)),
            "delivered": count(
                select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_not(None))
            ),
            "inbox": count(select(func.count()).select_from(inbox)),
            "borrowers": count(select(func.count(func.distinct(inbox.c.borrower_id)))),
            "deliveries": count(select(func.count()).select_from(deliveries)),
        }


def run(store: str, url: str, borrowers: int) -> bool:
    settings = Settings(database_url=url, policy_file=shipped_policy_file(), review_triggers=False)
    c = build(settings, FixedClock(AT), migrate=True)
    try:
        c.decisions.ready()  # the active version, seeded from the file
        label = c.policies.submit(ANALYST, "submit", candidate()).document["policy"]
        log(f"{store}: writing a simulation of {borrowers:,} affected lines …")
        began = time.perf_counter()
        simulated(c, policy_store.split(label), borrowers)
        setup_seconds = time.perf_counter() - began

        log(f"{store}: approving …")
        began = time.perf_counter()
        approved = c.policies.approve(APPROVER, "approve", label, None, "bench").document
        queue_seconds = time.perf_counter() - began
        queued = approved["notices_queued"]

        log(f"{store}: delivering …")
        began = time.perf_counter()
        outcomes = c.dispatcher.run_until_idle()
        deliver_seconds = time.perf_counter() - began
        found = counted(c)
    finally:
        c.close()
    queue_rate = queued / queue_seconds
    queue_target_rate = QUEUE_BORROWERS_TARGET / QUEUE_SECONDS_TARGET
    queue_ratio = queue_rate / queue_target_rate
    delivery_rate = found["inbox"] / deliver_seconds
    delivery_ratio = delivery_rate / DELIVERY_RATE_TARGET
    print(f"{store}: {borrowers:,} borrowers adversely affected ({setup_seconds:.1f} s to write)")
    print(
        f"  approval queued {queued:,} notices in {queue_seconds:.2f} s = {queue_rate:,.0f} "
        f"notices/s; target 1,000,000 in < 60 s ({queue_target_rate:,.0f}/s): "
        f"{queue_ratio:.2f}x the target rate [{verdict(queue_ratio)}]"
    )
    print(
        f"  dispatcher delivered {found['inbox']:,} to the inbox in {deliver_seconds:.2f} s = "
        f"{delivery_rate:,.0f} notices/s; target >= {DELIVERY_RATE_TARGET:,.0f}/s: "
        f"{delivery_ratio:.2f}x the target [{verdict(delivery_ratio)}] ({json.dumps(outcomes)})"
    )
    complete = (
        queued
        == borrowers
        == found["messages"]
        == found["delivered"]
        == found["inbox"]
        == found["borrowers"]
        and found["deliveries"] == 3 * borrowers  # inbox, e-mail and webhook recorded
    )
    checked = "OK" if complete else "MISMATCH"
    print(f"  every notice in its borrower's inbox once: {found} [{checked}]")
    return complete


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=f"{BORROWERS_SMOKE:,} borrowers")
    parser.add_argument(
        "--borrowers", type=int, help=f"default {BORROWERS_FULL:,} (with --smoke, as it says)"
    )
    parser.add_argument("--stores", default="sqlite,postgresql")
    add_postgres_url(parser)
    args = parser.parse_args(argv)
    borrowers = args.borrowers or (BORROWERS_SMOKE if args.smoke else BORROWERS_FULL)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores")
    ok = True
    for store in args.stores.split(","):
        if store == "sqlite":
            with tempfile.TemporaryDirectory() as directory:
                ok &= run("SQLite", f"sqlite:///{directory}/bench.db", borrowers)
        elif store == "postgresql":
            with postgres_database(args.postgres_url, BENCH_DATABASE) as url:
                ok &= run("PostgreSQL", url, borrowers)
        else:
            parser.error(f"unknown store {store!r}")
    print(f"Command: {' '.join(sys.argv)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
