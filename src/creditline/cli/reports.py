"""`creditline report portfolio`: the book at a business date as an HTML file and a PDF."""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from creditline.cli.app import app, fail, progress_bar, settings_or_fail
from creditline.kernel.actors import Actor, Role

report_app = typer.Typer(no_args_is_help=True, help="Reports: the portfolio at a date.")
app.add_typer(report_app, name="report")
REPORTER = Actor("creditline-cli", Role.ANALYST)


class ReportEngine(StrEnum):
    """Where the report's queries run."""

    STORE = "store"
    DUCKDB = "duckdb"


@report_app.command("portfolio")
def portfolio(
    on: Annotated[str | None, typer.Option("--date", help="business date YYYY-MM-DD")] = None,
    currency: Annotated[str | None, typer.Option(help="default: the first lent in")] = None,
    weeks: Annotated[int, typer.Option(help="weeks of limit changes and SLAs")] = 12,
    out: Annotated[Path, typer.Option(help="directory for the HTML and PDF")] = Path("reports"),
    lang: Annotated[str, typer.Option(help="zh-CN or en")] = "en",
    engine: Annotated[ReportEngine, typer.Option(help="store, or a DuckDB copy")] = (
        ReportEngine.STORE
    ),
    book: Annotated[
        Path | None,
        typer.Option(help="with --engine duckdb: a copy made earlier (made here when missing)"),
    ] = None,
) -> None:
    """Write portfolio-<date>-<currency>.html and .pdf with charts; print the headline."""
    from creditline.bootstrap import build
    from creditline.web.portfolio_report import pdf, standalone_html

    if lang not in ("zh-CN", "en"):
        fail("--lang must be zh-CN or en")
    try:
        as_of = None if on is None else date.fromisoformat(on)
    except ValueError:
        fail(f"--date must be YYYY-MM-DD, not {on!r}")
    container = build(settings_or_fail())
    service = container.portfolio
    with progress_bar() as progress:
        task = progress.add_task("portfolio report", total=4)
        if engine is ReportEngine.DUCKDB:
            copy_path = book or out / "book.duckdb"
            if book is None or not book.exists():
                out.mkdir(parents=True, exist_ok=True)
                copying = progress.add_task("copying the book to DuckDB", total=None)
                copy = service.copy_book(
                    REPORTER,
                    copy_path,
                    lambda name, rows: progress.update(
                        copying, description=f"copying {name}: {rows:,} rows"
                    ),
                )
            else:
                copy = service.open_copy(copy_path)
            progress.advance(task)
            report = service.report_on(
                REPORTER,
                copy,
                as_of,
                currency,
                weeks,
                lambda figure: progress.update(task, description=f"portfolio report: {figure}"),
            )
            copy.close()
        else:
            progress.advance(task)
            report = service.report(REPORTER, as_of, currency, weeks)
        progress.advance(task)
        html = standalone_html(report, lang)
        progress.advance(task)
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"portfolio-{report.as_of}-{report.currency}"
        stem.with_suffix(".html").write_text(html, encoding="utf-8")
        stem.with_suffix(".pdf").write_bytes(pdf(html))
        progress.advance(task)
    container.close()
    typer.echo(
        json.dumps(
            {
                "as_of": report.as_of.isoformat(),
                "currency": report.currency,
                "lines": report.exposure.lines,
                "limit_minor": report.exposure.limit_minor,
                "drawn_minor": report.exposure.drawn_minor,
                "expected_loss_minor": report.expected_loss_minor,
                "zero_available_defects": len(report.zero_available.defects),
                "html": str(stem.with_suffix(".html")),
                "pdf": str(stem.with_suffix(".pdf")),
            },
            ensure_ascii=False,
        )
    )


@report_app.command("model")
def model_report(
    on: Annotated[str | None, typer.Option("--date", help="business date YYYY-MM-DD")] = None,
) -> None:
    """Print the active scorecard's PSI, AUC, KS and calibration as JSON; send the drift
    event (once per drift episode) when a PSI is above 0.25."""
    from creditline.bootstrap import build

    try:
        as_of = date.today() if on is None else date.fromisoformat(on)
    except ValueError:
        fail(f"--date must be YYYY-MM-DD, not {on!r}")
    container = build(settings_or_fail())
    report = container.model_monitor.alert(REPORTER, as_of)
    if report is None:
        fail("the active policy's scorecard keeps no development sample (fit it: creditline fit)")
    typer.echo(json.dumps(report.document(), indent=2, default=str))


@report_app.command("funder")
def funder(
    funder_id: Annotated[str, typer.Option("--funder", help="the funder's id in the catalogue")],
    period: Annotated[str, typer.Option(help="the month, YYYY-MM")],
    out: Annotated[Path, typer.Option(help="directory for the HTML and PDF")] = Path("reports"),
) -> None:
    """Write funder-<funder>-<period>.html and .pdf with charts; print the headline (CN-3)."""
    from creditline.bootstrap import build
    from creditline.web.funder_report import funder_html, pdf

    container = build(settings_or_fail())
    with progress_bar() as progress:
        task = progress.add_task("funder report", total=3)
        report = container.portfolio.funder_report(REPORTER, funder_id, period)
        progress.advance(task)
        html = funder_html(report)
        progress.advance(task)
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"funder-{report.funder}-{report.period}"
        stem.with_suffix(".html").write_text(html, encoding="utf-8")
        stem.with_suffix(".pdf").write_bytes(pdf(html))
        progress.advance(task)
    container.close()
    position = report.position
    headline = {
        "funder": report.funder,
        "period": report.period,
        "as_of": report.as_of.isoformat(),
        "currency": report.currency,
        "loans": position.loans,
        "drawn_minor": position.drawn_minor,
        "defaulted_minor": position.defaulted_minor,
        "loss_minor": position.loss_minor,
        "html": str(stem.with_suffix(".html")),
        "pdf": str(stem.with_suffix(".pdf")),
    }
    typer.echo(json.dumps(headline, ensure_ascii=False))
