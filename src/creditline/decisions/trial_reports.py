"""Reports on versions on trial: a shadow against the active version, an experiment by cell.

A shadow report counts every live decision the shadow stood beside: actions and reasons under
each version, the lines where they differ (action, limit or reasons) with the latest such
decision, and the adverse share (decisions where the shadow would have left the borrower less
to draw than the active version did, over all). An experiment's report gives, per cell, the
decisions and adverse ones, the adverse rate, the cell's lines' limits before their first
decision in the experiment and after their latest, counts by action and outcome, and the
newest decisions; and the experiment's events (who started and stopped it, why, and the
guardrail's figures when one stopped it).
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from creditline.decisions import policy_store, trial_store
from creditline.decisions.cells import Cell, ratio

DIFFERING_LINES_MAX = 500  # lines listed where the shadow and the active version differ
CELL_DECISIONS_LISTED_MAX = 100  # newest decisions listed per cell
HASH = (
    "bucket = int.from_bytes(sha256(f'{salt}:{line_id}'.encode('utf-8')).digest()[:8], 'big') "
    "% 10000; challenger when bucket < share_bp"
)


def shadow_report(connection: Connection, found: policy_store.Version) -> dict[str, Any]:
    """What the version in shadow would have decided, against the active version."""
    actions: dict[str, Counter[str]] = {}
    reasons: dict[str, Counter[str]] = {}
    lines: set[str] = set()
    adverse_lines: set[str] = set()
    differing: dict[str, dict[str, Any]] = {}
    total = adverse = 0
    first_at = last_at = None
    for row in trial_store.shadow_rows(connection, (found.policy_id, found.version)):
        total += 1
        lines.add(row["line_id"])
        first_at = first_at or row["at"]
        last_at = row["at"]
        for side in ("active", "shadow"):
            action = row[f"{side}_action"]
            actions.setdefault(action, Counter())[side] += 1
            if action != "keep":
                for code in json.loads(row[f"{side}_reason_codes"]):
                    reasons.setdefault(code, Counter())[side] += 1
        if row["adverse"]:
            adverse += 1
            adverse_lines.add(row["line_id"])
        if _differs(row):
            seen = differing.setdefault(row["line_id"], {"decisions": 0})
            seen["decisions"] += 1
            seen["latest"] = _pair(row)
    listed = [
        {"line_id": line_id, **seen}
        for line_id, seen in sorted(differing.items())[:DIFFERING_LINES_MAX]
    ]
    return {
        "policy": found.label,
        "state": found.state.value,
        "currency": found.currency,
        "first_at": None if first_at is None else first_at.isoformat(),
        "last_at": None if last_at is None else last_at.isoformat(),
        "decisions_total": total,
        "lines_total": len(lines),
        "actions": _sides(actions),
        "reasons": _sides(reasons),
        "adverse_count": adverse,
        "adverse_share": ratio(Decimal(adverse) / total if total else Decimal(0)),
        "adverse_lines": len(adverse_lines),
        "differing_decisions": sum(seen["decisions"] for seen in differing.values()),
        "differing_lines_total": len(differing),
        "differing_lines": listed,
    }


def _differs(row: Any) -> bool:
    return bool(
        row["active_action"] != row["shadow_action"]
        or row["active_limit_minor"] != row["shadow_limit_minor"]
        or json.loads(row["active_reason_codes"]) != json.loads(row["shadow_reason_codes"])
    )


def _pair(row: Any) -> dict[str, Any]:
    return {
        "at": row["at"].isoformat(),
        "limit_minor": row["limit_minor"],
        "active": {
            "policy": row["active_policy"],
            "action": row["active_action"],
            "limit_minor": row["active_limit_minor"],
            "reason_codes": json.loads(row["active_reason_codes"]),
        },
        "shadow": {
            "action": row["shadow_action"],
            "limit_minor": row["shadow_limit_minor"],
            "reason_codes": json.loads(row["shadow_reason_codes"]),
            "rule": row["shadow_rule"],
        },
        "adverse": bool(row["adverse"]),
    }


def _sides(counts: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {
        key: {"active": counts[key]["active"], "shadow": counts[key]["shadow"]}
        for key in sorted(counts)
    }


def experiment_report(connection: Connection, row: Any) -> dict[str, Any]:
    """An experiment, its events and its figures by cell."""
    events = trial_store.events_of(connection, row["id"])
    stopped = next((e for e in reversed(events) if e["event"] == "stopped"), None)
    return {
        "experiment_id": row["id"],
        "currency": row["currency"],
        "challenger": f"{row['policy_id']}@{row['version']}",
        "champion_at_start": row["champion"],
        "status": "running" if stopped is None else "stopped",
        "salt": row["salt"],
        "share_bp": row["share_bp"],
        "hash": HASH,
        "guardrails": {
            "adverse_rate_max_bp": row["adverse_rate_max_bp"],
            "exposure_change_max_bp": row["exposure_change_max_bp"],
            "decisions_min": row["decisions_min"],
        },
        "simulation_id": row["simulation_id"],
        "events": [_event(e) for e in events],
        "cells": {cell.value: _cell(connection, row["id"], cell) for cell in Cell},
    }


def _event(event: Any) -> dict[str, Any]:
    return {
        "event": event["event"],
        "actor": event["actor"],
        "at": event["at"].isoformat(),
        "justification": event["justification"],
        "details": None if event["details"] is None else json.loads(event["details"]),
    }


def _cell(connection: Connection, experiment_id: str, cell: Cell) -> dict[str, Any]:
    figures = trial_store.figures(connection, experiment_id, cell)
    decisions = trial_store.decisions_of(connection, experiment_id, cell, CELL_DECISIONS_LISTED_MAX)
    column = trial_store.decisions.c
    return {
        "decisions_total": figures.decisions,
        "lines": trial_store.lines_of(connection, experiment_id, cell),
        "adverse_count": figures.adverse,
        "adverse_rate": ratio(figures.adverse_rate),
        "limit_before_minor": figures.limit_before_minor,
        "limit_after_minor": figures.limit_after_minor,
        "exposure_change_minor": figures.limit_after_minor - figures.limit_before_minor,
        "exposure_change": ratio(figures.exposure_change),
        "actions": trial_store.counts_of(connection, experiment_id, cell, column.action),
        "outcomes": trial_store.counts_of(connection, experiment_id, cell, column.outcome),
        "decisions": [
            {
                "line_id": d["line_id"],
                "at": d["at"].isoformat(),
                "bucket": d["bucket"],
                "policy": d["policy"],
                "action": d["action"],
                "adverse": bool(d["adverse"]),
                "limit_before_minor": d["limit_before_minor"],
                "limit_after_minor": d["limit_after_minor"],
                "reason_codes": json.loads(d["reason_codes"]),
                "outcome": d["outcome"],
                "decision_id": d["decision_id"],
            }
            for d in decisions
        ],
    }


def experiment_summaries(connection: Connection) -> list[dict[str, Any]]:
    """Every experiment, newest first, with whether it runs."""
    return [
        {
            "experiment_id": row["id"],
            "challenger": f"{row['policy_id']}@{row['version']}",
            "champion_at_start": row["champion"],
            "share_bp": row["share_bp"],
            "status": "running" if row["running"] else "stopped",
        }
        for row in trial_store.experiments(connection)
    ]
