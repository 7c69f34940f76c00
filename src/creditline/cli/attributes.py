"""`creditline attributes load`: the lender's own attributes, a CSV keyed by borrower."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from creditline.cli.app import attributes_app, fail, settings_or_fail


@attributes_app.command("load")
def attributes_load(
    path: Annotated[
        Path, typer.Argument(help="CSV: borrower_id, then registered batch attributes.")
    ],
) -> None:
    """Store each borrower's values, replacing what an earlier load stored for the same
    borrower and attribute (a file loaded twice is stored once). A bad file changes nothing."""
    from creditline.bootstrap import build

    settings = settings_or_fail()
    if settings.attributes_file is None:
        fail("no attribute registry: set CREDITLINE_ATTRIBUTES_FILE")
    container = build(settings)
    try:
        stored = container.attributes.load(path)
    finally:
        container.close()
    typer.echo(json.dumps({"file": str(path), "values": stored}))
