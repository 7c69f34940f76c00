"""`creditline` command line (Typer). Bad input: one line on stderr and exit code 2."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.exceptions import TyperException

from creditline.cli import (  # noqa: F401  (registers their commands)
    attributes,
    experiments,
    offline,
    policies,
    reports,
    serving,
)
from creditline.cli.app import (
    BatchEngine,
    EngineOption,
    ExchangeOption,
    SparkMasterOption,
    app,
    db_app,
    err,
    fail,
    progress_bar,
    settings_or_fail,
    spark_or_fail,
)
from creditline.kernel.errors import DomainError

if TYPE_CHECKING:
    pass


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema of CREDITLINE_DATABASE_URL."""
    from creditline.db.engine import make_engine
    from creditline.db.migrate import upgrade

    settings = settings_or_fail()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    typer.echo(f"schema is up to date on {engine.url.render_as_string(hide_password=True)}")


@app.command()
def demo(
    borrowers: Annotated[int, typer.Option(min=1, max=100_000)] = 300,
    if_empty: Annotated[bool, typer.Option(help="Do nothing when lines exist.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed of the generated book.")] = 2026,
) -> None:
    """Load a demo book: borrowers with lines, loans, repayments, freezes and cuts; deliver its
    notices (to the inbox, and e-mail and webhook when configured)."""
    from creditline.bootstrap import build
    from creditline.demo import load_demo_book

    container = build(settings_or_fail())
    if if_empty and container.reconciler.count_lines() > 0:
        typer.echo("demo book already loaded; nothing to do")
        return
    with progress_bar() as progress:
        task = progress.add_task("loading demo book", total=borrowers)
        summary = load_demo_book(container, borrowers, seed, lambda: progress.advance(task))
        # The book's history is in the borrowers' inboxes before anyone looks.
        progress.add_task("delivering its notices", total=None)
        summary["notices"] = container.dispatcher.run_until_idle()
    typer.echo(json.dumps(summary, indent=2))


@app.command()
def reconcile() -> None:
    """Prove every line's books; print findings; exit 1 when there are any."""
    from creditline.bootstrap import build

    container = build(settings_or_fail())
    with progress_bar() as progress:
        task = progress.add_task("verifying hash chains", total=container.reconciler.count_lines())
        findings = container.reconciler.run(lambda n: progress.advance(task, n))
    for finding in findings:
        typer.echo(json.dumps(finding.as_dict(), ensure_ascii=False))
    typer.echo(f"{len(findings)} findings", err=True)
    raise typer.Exit(1 if findings else 0)


@app.command()
def review(
    engine: EngineOption = BatchEngine.DUCKDB,
    spark_master: SparkMasterOption = None,
    exchange: ExchangeOption = None,
) -> None:
    """Review every open line with the active policy version (CREDITLINE_POLICY_FILE seeds
    version one): decide the whole book in one query, on DuckDB or on Spark; apply each change
    through the ledger with its reasons and notice. Safe to run again the same day: changes
    already made are not made twice, and a cut a policy change announced for a later date
    waits for it."""
    from creditline.bootstrap import build

    spark = spark_or_fail(engine, spark_master, exchange)
    container = build(settings_or_fail())
    decide = None
    if spark is not None:
        from creditline.decisions.spark import book_on_spark

        decide = book_on_spark(spark, exchange)
    with progress_bar() as progress:
        task = progress.add_task("reviewing lines", total=None)

        def show(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        outcomes = container.decisions.review_book(show, decide)
    typer.echo(json.dumps(outcomes))


@app.command()
def eod(
    on: Annotated[str, typer.Option("--date", help="Business date to close, YYYY-MM-DD.")],
) -> None:
    """Close a business date for every open loan: accrue interest, mark days past due, charge
    penalty interest and late fees. Idempotent; days missed since the last run go first. A date
    after today where the lender does business is refused, and nothing is written."""
    from creditline.bootstrap import build

    try:
        business_date = date.fromisoformat(on)
    except ValueError:
        fail(f"--date must be YYYY-MM-DD, not {on!r}")
    container = build(settings_or_fail())
    container.end_of_day.refuse_future(business_date)  # one line, before any progress bar
    with progress_bar() as progress:
        tasks: dict[date, Any] = {}

        def show(day: date, done: int, total: int) -> None:
            if day not in tasks:
                tasks[day] = progress.add_task(f"end of day {day.isoformat()}", total=total)
            progress.update(tasks[day], completed=done, total=total)

        days = container.end_of_day.run(business_date, show)
    for day in days:
        typer.echo(json.dumps(day.document()))


@app.command()
def refund(
    loan: Annotated[str, typer.Argument(help="The loan whose credit balance is paid back.")],
    key: Annotated[str, typer.Option(help="Idempotency key: the same key never pays twice.")],
    by: Annotated[str, typer.Option(help="Who pays it out (staff name, recorded).")],
    amount: Annotated[
        str | None, typer.Option(help="Amount to pay back, a decimal string (default: all).")
    ] = None,
) -> None:
    """Pay a loan's credit balance back to its borrower: recorded with who paid it, journaled
    on the line, reconciled and announced to the borrower. Prints the refund as one JSON line."""
    from creditline.bootstrap import build
    from creditline.kernel.actors import Actor, Role

    container = build(settings_or_fail())
    try:
        result = container.loans.refund(Actor(by, Role.AGENT), key, loan, amount)
        typer.echo(json.dumps(result.document, ensure_ascii=False))
    finally:
        container.close()


@app.command()
def dispatch(
    once: Annotated[bool, typer.Option(help="One batch only.")] = False,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Messages per batch.")] = 500,
) -> None:
    """Deliver the outbox now: the inbox, e-mail (CREDITLINE_SMTP_HOST) and the lender's
    webhook (CREDITLINE_WEBHOOK_URL); failures are retried later with backoff. Safe to run in
    several processes at once. Prints the counts as one JSON line."""
    from creditline.bootstrap import build
    from creditline.notices.dispatcher import counts_line

    container = build(settings_or_fail())
    try:
        run = container.dispatcher.run_once if once else container.dispatcher.run_until_idle
        typer.echo(counts_line(run(batch)))
    finally:
        container.close()


@app.command()
def remind() -> None:
    """Queue the reminders due now (a freeze ending within 3 days, income evidence expiring
    within 14, an instalment due within the profile's `due_reminder_days` or today, a payment
    missed past its grace days), last month's statement of each line, and an alert to the
    lender for each human review past its deadline; each is sent once. Prints the counts as
    one JSON line."""
    from creditline.bootstrap import build

    container = build(settings_or_fail())
    try:
        typer.echo(json.dumps(container.reminders.run()))
    finally:
        container.close()


@app.command()
def requests(
    status: Annotated[str, typer.Option(help="open, done or withdrawn.")] = "open",
    limit: Annotated[int, typer.Option(min=1, help="Requests on the page, at most 200.")] = 50,
    after: Annotated[
        str | None, typer.Option(help="Start after this request (the previous page's last).")
    ] = None,
) -> None:
    """List borrowers' requests to close a line or lower its limit, oldest first (the open ones
    unless --status says otherwise): one JSON line each, with its line, borrower, the limit
    asked, when it was made, its deadline and whether it is overdue. A count, and the next
    page's --after, on stderr."""
    from creditline.bootstrap import build
    from creditline.kernel.actors import SYSTEM

    container = build(settings_or_fail())
    try:
        page = container.ledger.requests.queue(SYSTEM, status, limit, after)
    finally:
        container.close()
    for request in page["requests"]:
        typer.echo(json.dumps(request, ensure_ascii=False))
    overdue = sum(1 for request in page["requests"] if request["overdue"])
    summary = f"{len(page['requests'])} {status} requests, {overdue} overdue"
    if page["next_after"] is not None:
        summary += f"; the next page: --after {page['next_after']}"
    typer.echo(summary, err=True)


@app.command("sweep-holds")
def sweep_holds() -> None:
    """Release expired holds, lift freezes whose end has passed and apply scheduled closes
    whose date has come, once."""
    from creditline.bootstrap import build

    container = build(settings_or_fail())
    total = {"holds_released": 0, "freezes_ended": 0, "closes_applied": 0, "failed": 0}
    while True:  # each pass takes a bounded batch
        swept = container.ledger.sweep()
        for key, value in swept.items():
            total[key] += value
        if not any(swept[key] for key in ("holds_released", "freezes_ended", "closes_applied")):
            break  # nothing more it can do (failures are logged and stay for the next run)
    typer.echo(json.dumps(total))


@app.command()
def token(
    role: Annotated[str, typer.Option(help="borrower, agent, analyst, approver, admin, service")],
    subject: Annotated[str, typer.Option(help="Borrower id, or staff/service name.")],
    hours: Annotated[int, typer.Option(min=1, max=24 * 30)] = 12,
) -> None:
    """Print a bearer token for ROLE and SUBJECT, signed with the active key (its `kid` in the
    header), issued now and valid for HOURS, at most the configured token lifetime."""
    from creditline.api.auth import issue_token
    from creditline.kernel.actors import Role
    from creditline.kernel.clock import SystemClock

    settings = settings_or_fail()
    try:
        parsed = Role(role)
    except ValueError:
        fail(f"unknown role {role!r}; one of: {', '.join(r.value for r in Role)}")
    try:
        settings.refuse_unsafe_signing_key()
    except ValueError as exc:
        fail(str(exc))
    if timedelta(hours=hours) > settings.token_lifetime_max:
        lifetime_max_seconds = int(settings.token_lifetime_max.total_seconds())
        fail(f"a token may live at most {lifetime_max_seconds} seconds (--hours {hours})")
    try:
        typer.echo(
            issue_token(
                settings.jwt_signing_key,
                parsed,
                subject,
                SystemClock().now(),
                timedelta(hours=hours),
            )
        )
    except ValueError as exc:
        fail(str(exc))


def main() -> None:
    """Entry point: usage errors and rejected input are one line on stderr and exit code 2."""
    args = sys.argv[1:] or ["--help"]
    try:
        outcome = app(args, standalone_mode=False)
    except TyperException as exc:  # usage errors: unknown command, missing or bad option
        err.print(f"creditline: {exc.format_message()}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except DomainError as exc:
        err.print(f"creditline: {exc.code}: {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    sys.exit(outcome if isinstance(outcome, int) else 0)


if __name__ == "__main__":
    main()
