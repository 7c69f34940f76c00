"""The `creditline` command line's shared parts: the Typer apps, stderr, failing and progress.

Bad input: one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from creditline.config import Settings, load_settings

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
