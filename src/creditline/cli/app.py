"""The `creditline` command line's shared parts: the Typer apps, stderr, failing and progress.

Bad input: one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from creditline.config import Settings, load_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from creditline.decisions.attributes import LenderAttribute

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="creditline: revolving credit lines that are correct, explained, announced and "
    "reversible.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
policy_app = typer.Typer(no_args_is_help=True, help="Credit policy documents.")
app.add_typer(policy_app, name="policy")
experiment_app = typer.Typer(no_args_is_help=True, help="Champion/challenger experiments.")
app.add_typer(experiment_app, name="experiment")
attributes_app = typer.Typer(no_args_is_help=True, help="The lender's own attributes.")
app.add_typer(attributes_app, name="attributes")
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit with `code` (2: bad input)."""
    err.print(f"creditline: {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_or_fail() -> Settings:
    """The settings from the environment; a bad one fails the command."""
    try:
        return load_settings()
    except ValueError as exc:
        fail(f"configuration: {exc}")


def progress_bar() -> Progress:
    """A progress bar on stderr (it vanishes when stderr is not a terminal)."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=not sys.stderr.isatty(),
    )


AttributesOption = Annotated[
    Path | None,
    typer.Option(
        envvar="CREDITLINE_ATTRIBUTES_FILE",
        help="The lender's attribute registry (TOML; default: CREDITLINE_ATTRIBUTES_FILE).",
    ),
]


def registry_or_fail(path: Path | None) -> dict[str, LenderAttribute] | None:
    """The registry at `path` (None: none named); a bad one fails the command."""
    if path is None:
        return None
    from creditline.decisions.attributes import load_registry

    return load_registry(path)


class BatchEngine(StrEnum):
    """Where a book review or a policy simulation decides the lines."""

    DUCKDB = "duckdb"
    SPARK = "spark"


EngineOption = Annotated[
    BatchEngine, typer.Option(help="duckdb: on this machine; spark: on Apache Spark.")
]
SparkMasterOption = Annotated[
    str | None,
    typer.Option(help="Spark's master URL (default: spark-submit's, else local[*])."),
]
ExchangeOption = Annotated[
    Path | None,
    typer.Option(
        help="Directory the features and decisions pass through as Parquet (Spark), one path "
        "for this machine and Spark's executors alike; kept. Default: a temporary directory, "
        "for local Spark."
    ),
]


def spark_or_fail(
    engine: BatchEngine, master: str | None, exchange: Path | None
) -> SparkSession | None:
    """The Spark session `--engine spark` decides on (None for DuckDB); the Spark options
    without it, or Spark without PySpark, fail the command."""
    if engine is not BatchEngine.SPARK:
        if master is not None or exchange is not None:
            fail("--spark-master and --exchange are for --engine spark")
        return None
    try:
        from creditline.decisions.spark import session
    except ImportError as error:
        fail(f"--engine spark needs PySpark: pip install 'creditline[spark]' ({error})")
    return session(master)
