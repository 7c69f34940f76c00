"""`creditline experiment …`: champion/challenger experiments from the command line.

Starting and stopping act as a person (`--by`, with `--role`): the challenger's approval for
its cell is another person's than its author's, as over HTTP. Bad input, and a refused step:
one line on stderr, exit code 2.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from creditline.cli.app import experiment_app
from creditline.cli.policies import By, Key, Why, actor_of, echo, registry
from creditline.kernel.actors import Actor, Role
from creditline.kernel.ids import new_id

ApproverRole = Annotated[str, typer.Option(help="approver or admin")]


@experiment_app.command("create")
def create(
    challenger: Annotated[str, typer.Argument(help="the simulated version, id@version")],
    by: By,
    justification: Why,
    share_bp: Annotated[int, typer.Option(help="The challenger's share, 1–5000 bp.")],
    adverse_rate_max_bp: Annotated[
        int, typer.Option(help="The challenger cell's largest adverse rate, bp.")
    ],
    exposure_change_max_bp: Annotated[
        int, typer.Option(help="The challenger cell's largest change of its limits, bp.")
    ],
    salt: Annotated[str | None, typer.Option(help="Default: the experiment's id.")] = None,
    decisions_min: Annotated[
        int | None, typer.Option(help="Decisions before a guardrail is looked at (20).")
    ] = None,
    role: ApproverRole = "approver",
    key: Key = None,
) -> None:
    """Start an experiment: the challenger decides, for real, the lines whose hash falls in its
    share; the cell's adversely affected borrowers are told now."""
    actor = actor_of(by, role)
    settings: dict[str, Any] = {
        "share_bp": share_bp,
        "adverse_rate_max_bp": adverse_rate_max_bp,
        "exposure_change_max_bp": exposure_change_max_bp,
    }
    if salt is not None:
        settings["salt"] = salt
    if decisions_min is not None:
        settings["decisions_min"] = decisions_min
    result = registry().create_experiment(
        actor, key or new_id(), challenger, settings, justification
    )
    echo(result.document)


@experiment_app.command("stop")
def stop(
    experiment_id: Annotated[str, typer.Argument(help="The experiment's id.")],
    by: By,
    justification: Why,
    role: ApproverRole = "approver",
    key: Key = None,
) -> None:
    """Stop an experiment: the challenger's lines are decided by the champion again."""
    actor = actor_of(by, role)
    result = registry().stop_experiment(actor, key or new_id(), experiment_id, justification)
    echo(result.document)


@experiment_app.command("report")
def report(experiment_id: Annotated[str, typer.Argument(help="The experiment's id.")]) -> None:
    """An experiment's events and its figures by cell."""
    echo(registry().experiment_report(Actor("cli", Role.ANALYST), experiment_id))


@experiment_app.command("list")
def listed() -> None:
    """Every experiment, newest first."""
    echo(registry().experiments(Actor("cli", Role.ANALYST)))
