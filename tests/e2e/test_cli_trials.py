"""`creditline policy shadow …` and `creditline experiment …` as an operator runs them, on
SQLite and PostgreSQL: a version in shadow and out, then the challenger of an experiment
started and stopped by another person; refusals are one line on stderr with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Run
from test_cli_policy import LABEL, candidate, refused


def test_shadow_then_an_experiment_from_the_command_line(
    creditline: Run, database_url: str, tmp_path: Path
) -> None:
    def run(*args: str):  # type: ignore[no-untyped-def]
        return creditline(*args, database_url=database_url)

    def ok(*args: str) -> dict[str, Any]:
        done = run(*args)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    ok("policy", "submit", str(candidate(tmp_path)), "--by", "analyst-1")
    ok("policy", "simulate", LABEL, "--by", "analyst-1")
    refused(run("policy", "shadow", LABEL, "--by", "analyst-1", "--justification", " "),
            "invalid_input")  # fmt: skip
    shadow = ok("policy", "shadow", LABEL, "--by", "analyst-1", "--justification", "watch it")
    assert (shadow["state"], shadow["actor"]) == ("shadow", "analyst:analyst-1")
    refused(run("policy", "shadow", LABEL, "--by", "analyst-1", "--justification", "again"),
            "policy_transition_refused")  # fmt: skip
    report = ok("policy", "shadow-report", LABEL)
    assert (report["state"], report["decisions_total"], report["adverse_share"]) == (
        "shadow", 0, "0.0000",
    )  # fmt: skip
    refused(run("policy", "shadow-report", "cn-standard@1999.1"), "policy_not_found")
    ok("policy", "shadow-stop", LABEL, "--by", "analyst-1", "--justification", "seen enough")

    ok("policy", "simulate", LABEL, "--by", "analyst-1")
    create = ("experiment", "create", LABEL, "--share-bp", "1000", "--adverse-rate-max-bp",
              "500", "--exposure-change-max-bp", "1000", "--justification", "a tenth")  # fmt: skip
    refused(run(*create, "--by", "analyst-1", "--role", "approver"), "approver_is_author")
    refused(run(*create, "--by", "analyst-2", "--role", "analyst"), "forbidden")
    refused(run(*create[:4], "0", *create[5:], "--by", "approver-1"), "invalid_input")
    made = ok(*create, "--by", "approver-1", "--salt", "cli-salt")
    assert (made["status"], made["salt"], made["share_bp"]) == ("running", "cli-salt", 1000)
    experiment_id = made["experiment_id"]
    report = ok("experiment", "report", experiment_id)
    assert report["status"] == "running"
    assert report["cells"]["challenger"]["decisions_total"] == 0
    assert ok("experiment", "list")["experiments"][0]["experiment_id"] == experiment_id

    stop = ("experiment", "stop", experiment_id, "--by", "approver-1")
    ok(*stop, "--justification", "done")
    refused(run(*stop, "--justification", "again"), "experiment_stopped")
    refused(run("experiment", "report", "nothing"), "experiment_not_found")
    history = ok("policy", "history", LABEL)
    assert [s["state"] for s in history["steps"]] == [
        "draft", "linted", "simulated", "shadow", "stopped", "simulated", "challenger", "stopped",
    ]  # fmt: skip
    assert history["steps"][-1]["justification"] == "done"
