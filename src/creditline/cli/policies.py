"""`creditline policy …`: a policy version's governed life from the command line.

Each step acts as a person (`--by`, with `--role`): maker-checker holds here as over HTTP.
Bad input, and a refused step: one line on stderr, exit code 2.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from creditline.cli.app import (
    BatchEngine,
    EngineOption,
    ExchangeOption,
    SparkMasterOption,
    fail,
    policy_app,
    settings_or_fail,
    spark_or_fail,
)
from creditline.kernel.actors import Actor, Role
from creditline.kernel.ids import new_id

By = Annotated[str, typer.Option("--by", help="Who takes the step (staff name).")]
Key = Annotated[str | None, typer.Option("--key", help="Idempotency key (default: a new one).")]
Justification = Annotated[str | None, typer.Option(help="Why, in writing.")]


def actor_of(subject: str, role: str) -> Actor:
    try:
        parsed = Role(role)
    except ValueError:
        fail(f"unknown role {role!r}; one of: {', '.join(r.value for r in Role)}")
    if not subject.strip():
        fail("--by must name who takes the step")
    return Actor(subject, parsed)


def registry() -> Any:
    from creditline.bootstrap import build

    return build(settings_or_fail()).policies


def echo(document: dict[str, Any]) -> None:
    typer.echo(json.dumps(document, ensure_ascii=False, indent=2))


@policy_app.command("submit")
def submit(
    path: Annotated[Path, typer.Argument(help="A policy document (YAML).")],
    by: By,
    role: Annotated[str, typer.Option(help="analyst, approver or admin")] = "analyst",
    key: Key = None,
) -> None:
    """Submit a new version: stored as a draft, then linted (its problems listed)."""
    import yaml

    actor = actor_of(by, role)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {str(exc).splitlines()[0]}")
    echo(registry().submit(actor, key or new_id(), document).document)


@policy_app.command("simulate")
def simulate(
    label: Annotated[str, typer.Argument(help="id@version")],
    by: By,
    role: Annotated[str, typer.Option(help="analyst, approver or admin")] = "analyst",
    key: Key = None,
    engine: EngineOption = BatchEngine.DUCKDB,
    spark_master: SparkMasterOption = None,
    exchange: ExchangeOption = None,
) -> None:
    """Decide today's book with the version and with the active one, on DuckDB or on Spark
    (the same compiled query, the features and decisions passing through Parquet); store and
    print what changes (the chart is kept with the version: GET /v1/policies/{label}/simulation)."""
    actor = actor_of(by, role)
    spark = spark_or_fail(engine, spark_master, exchange)
    decide = None
    if spark is not None:
        from creditline.decisions.spark import simulation_on_spark

        decide = simulation_on_spark(spark, exchange)
    document = registry().simulate(actor, key or new_id(), label, decide).document
    document.pop("chart", None)
    echo(document)


@policy_app.command("diff")
def diff(
    label: Annotated[str, typer.Argument(help="id@version")],
    against: Annotated[str | None, typer.Option(help="id@version (default: the active)")] = None,
) -> None:
    """What the version changes against another, rule by rule and cell by cell."""
    echo(registry().diff(Actor("cli", Role.ANALYST), label, against))


@policy_app.command("approve")
def approve(
    label: Annotated[str, typer.Argument(help="id@version")],
    by: By,
    effective_at: Annotated[
        str | None,
        typer.Option(
            help="When it takes effect: an ISO time with its offset (default: as early as the "
            "notice period allows)."
        ),
    ] = None,
    justification: Justification = None,
    role: Annotated[str, typer.Option(help="approver or admin")] = "approver",
    key: Key = None,
) -> None:
    """Approve a simulated version (not your own); the borrowers affected are told now."""
    actor = actor_of(by, role)
    when = None
    if effective_at is not None:
        try:
            when = datetime.fromisoformat(effective_at)
        except ValueError:
            fail(f"--effective-at must be an ISO time, not {effective_at!r}")
        if when.tzinfo is None:
            fail("--effective-at needs an offset (e.g. 2027-01-15T00:00:00+08:00)")
    result = registry().approve(actor, key or new_id(), label, when, justification)
    echo(result.document)


@policy_app.command("schedule")
def schedule(
    label: Annotated[str, typer.Argument(help="id@version")],
    by: By,
    justification: Justification = None,
    role: Annotated[str, typer.Option(help="approver or admin")] = "approver",
    key: Key = None,
) -> None:
    """Put an approved version on the calendar: it becomes active at its effective date."""
    actor = actor_of(by, role)
    echo(registry().schedule(actor, key or new_id(), label, justification).document)


@policy_app.command("retire")
def retire(
    label: Annotated[str, typer.Argument(help="id@version")],
    by: By,
    justification: Annotated[str, typer.Option(help="Why, in writing.")],
    role: Annotated[str, typer.Option(help="approver or admin")] = "approver",
    key: Key = None,
) -> None:
    """Withdraw a version that is not active."""
    actor = actor_of(by, role)
    echo(registry().retire(actor, key or new_id(), label, justification).document)


@policy_app.command("history")
def history(label: Annotated[str, typer.Argument(help="id@version")]) -> None:
    """Every step of the version's life: who, when, why."""
    echo(registry().history(Actor("cli", Role.ANALYST), label))


@policy_app.command("activate")
def activate() -> None:
    """Make scheduled versions whose date has come active, and apply the announced changes that
    are due (`serve` does this in the background). Prints the counts as one JSON line."""
    typer.echo(json.dumps(registry().activate_due()))


Label = Annotated[str, typer.Argument(help="id@version")]
Why = Annotated[str, typer.Option(help="Why, in writing.")]
AuthorRole = Annotated[str, typer.Option(help="analyst, approver or admin")]


@policy_app.command("shadow")
def shadow(
    label: Label, by: By, justification: Why, role: AuthorRole = "analyst", key: Key = None
) -> None:
    """Run a linted, simulated or stopped version in shadow beside the active one: it decides
    on every live trigger, its decisions are stored, nothing reaches the line."""
    result = registry().start_shadow(actor_of(by, role), key or new_id(), label, justification)
    echo(result.document)


@policy_app.command("shadow-stop")
def shadow_stop(
    label: Label, by: By, justification: Why, role: AuthorRole = "analyst", key: Key = None
) -> None:
    """Stop a version's shadow; what it decided is kept."""
    result = registry().stop_shadow(actor_of(by, role), key or new_id(), label, justification)
    echo(result.document)


@policy_app.command("shadow-report")
def shadow_report(label: Label) -> None:
    """What the version decided in shadow against the active version: counts by action and
    reason under each, the lines where they differ, the adverse share."""
    echo(registry().shadow_report(Actor("cli", Role.ANALYST), label))
