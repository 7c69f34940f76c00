"""`creditline policy …` as an operator runs it, on SQLite and PostgreSQL: a version's life from
submission to activation, maker-checker, and bad input as one line on stderr with exit code 2.
The commands read the wall clock; the book is empty, so nobody is affected and the version may
take effect at once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from conftest import Run

from creditline.config import shipped_policy_file

LABEL = "cn-standard@2026.12.1"


def candidate(tmp_path: Path) -> Path:
    document = yaml.safe_load(shipped_policy_file().read_text(encoding="utf-8"))
    document["version"] = "2026.12.1"
    document["constraints"]["cooldown_days"] = 45
    path = tmp_path / "candidate.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def refused(result: object, code: str) -> None:
    assert result.returncode == 2, result  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and code in lines[0], lines


def test_a_version_from_submission_to_activation(
    creditline: Run, database_url: str, tmp_path: Path
) -> None:
    def run(*args: str):  # type: ignore[no-untyped-def]
        return creditline("policy", *args, database_url=database_url)

    submitted = run("submit", str(candidate(tmp_path)), "--by", "analyst-1")
    assert submitted.returncode == 0, submitted.stderr
    assert json.loads(submitted.stdout)["state"] == "linted"
    simulated = run("simulate", LABEL, "--by", "analyst-1")
    assert simulated.returncode == 0, simulated.stderr
    assert json.loads(simulated.stdout)["adverse_count"] == 0
    refused(
        run("simulate", LABEL, "--by", "analyst-1", "--exchange", str(tmp_path)), "--engine spark"
    )

    effective_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused(
        run(
            "approve",
            LABEL,
            "--by",
            "analyst-1",
            "--role",
            "analyst",
            "--effective-at",
            effective_at,
        ),
        "forbidden",
    )
    refused(
        run("approve", LABEL, "--by", "analyst-1", "--effective-at", effective_at),
        "approver_is_author",
    )
    refused(run("approve", LABEL, "--by", "approver-1", "--effective-at", "soon"), "ISO time")
    # Nobody is affected: by default it takes effect as soon as it is approved.
    approved = run("approve", LABEL, "--by", "approver-1")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["notices_queued"] == 0
    assert run("schedule", LABEL, "--by", "approver-1").returncode == 0

    diff = json.loads(run("diff", LABEL).stdout)
    assert diff["against"] == "cn-standard@2026.11.1"
    assert diff["changes"] == [
        {"path": "constraints.cooldown_days", "before": 30, "after": 45},
        {"path": "version", "before": "2026.11.1", "after": "2026.12.1"},
    ]
    activated = run("activate")
    assert activated.returncode == 0, activated.stderr
    assert json.loads(activated.stdout) == {"activated": 1}
    history = json.loads(run("history", LABEL).stdout)
    assert [s["state"] for s in history["steps"]] == [
        "draft", "linted", "simulated", "approved", "scheduled", "active",
    ]  # fmt: skip
    refused(run("retire", LABEL, "--by", "approver-1", "--justification", "x"), "policy_is_active")
    refused(run("history", "cn-standard@1999.1"), "policy_not_found")
