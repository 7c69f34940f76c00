"""`creditline` command line (Typer). Bad input: one line on stderr and exit code 2."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from typer.exceptions import TyperException

from creditline.config import Settings, load_settings
from creditline.kernel.errors import DomainError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
policy_app = typer.Typer(no_args_is_help=True, help="Credit policy documents.")
app.add_typer(policy_app, name="policy")
err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"creditline: {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema of CREDITLINE_DATABASE_URL."""
    from creditline.db.engine import make_engine
    from creditline.db.migrate import upgrade

    settings = _settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    typer.echo(f"schema is up to date on {engine.url.render_as_string(hide_password=True)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Threads serving requests.")] = 40,
) -> None:
    """Serve the API; in the background, sweep expired holds and due freezes and deliver the
    outbox (CREDITLINE_DISPATCH=off leaves delivery to `creditline dispatch`)."""
    import uvicorn

    from creditline.api.app import create_app
    from creditline.bootstrap import build

    settings = _settings()
    try:
        settings.refuse_unsafe_signing_key()
    except ValueError as exc:
        _fail(f"refusing to serve: {exc}")
    container = build(settings)
    uvicorn.run(
        create_app(container, sweep=True, dispatch=settings.dispatch, threads=workers),
        host=host,
        port=port,
        log_level="info",
    )


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

    container = build(_settings())
    if if_empty and container.reconciler.count_lines() > 0:
        typer.echo("demo book already loaded; nothing to do")
        return
    with _progress() as progress:
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

    container = build(_settings())
    with _progress() as progress:
        task = progress.add_task("verifying hash chains", total=container.reconciler.count_lines())
        findings = container.reconciler.run(lambda n: progress.advance(task, n))
    for finding in findings:
        typer.echo(json.dumps(finding.as_dict(), ensure_ascii=False))
    typer.echo(f"{len(findings)} findings", err=True)
    raise typer.Exit(1 if findings else 0)


@policy_app.command("lint")
def policy_lint(path: Annotated[Path, typer.Argument(help="A policy document (YAML).")]) -> None:
    """Check a policy: known features and functions only, specific reason codes on every rule,
    no unreachable rule, a complete limit matrix. Prints each problem; exits 1 if any."""
    import yaml

    from creditline.decisions.policy import check_policy

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {str(exc).splitlines()[0]}")
    policy, problems = check_policy(document)
    for problem in problems:
        typer.echo(problem)
    name = str(path) if policy is None else policy.label
    typer.echo(f"{name}: {len(problems)} problems", err=True)
    raise typer.Exit(1 if problems else 0)


@app.command()
def review() -> None:
    """Review every open line with the policy (CREDITLINE_POLICY_FILE): decide the whole book in
    one query, apply each change through the ledger with its reasons and notice. Safe to run
    again the same day: changes already made are not made twice."""
    from creditline.bootstrap import build

    container = build(_settings())
    with _progress() as progress:
        task = progress.add_task("reviewing lines", total=None)

        def show(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        outcomes = container.decisions.review_book(show)
    typer.echo(json.dumps(outcomes))


@app.command()
def fit(
    data: Annotated[Path, typer.Option(help="CSV: creditline feature columns and the target.")],
    target: Annotated[str, typer.Option(help="The target column: 1 bad, 0 good.")],
    out: Annotated[Path, typer.Option(help="Where to write the policy (or scorecard) YAML.")],
    feature: Annotated[
        list[str] | None, typer.Option(help="A feature column to score (repeat; default: all).")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="A policy whose scorecard the fitted one replaces.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Where to write the report (default: OUT.report.md).")
    ] = None,
    pdo: Annotated[int, typer.Option(min=1, help="Points to double the odds.")] = 20,
    odds: Annotated[int, typer.Option(min=1, help="Good:bad odds at --points.")] = 50,
    points: Annotated[int, typer.Option(help="The score at --odds.")] = 600,
    seed: Annotated[int, typer.Option(help="Seed of the stratified 70/30 split.")] = 42,
) -> None:
    """Fit a scorecard with optbinning (monotonic bins, WoE, logistic regression, points) and
    write it, into a copy of --policy when given, with a report: AUC, KS, Gini, IV, bins."""
    from creditline.decisions.fitting import FitOptions, read_data, with_scorecard
    from creditline.decisions.fitting import fit as fit_scorecard

    x, y = read_data(data, target, feature)
    with err.status("fitting"):
        fitted = fit_scorecard(
            x, y, FitOptions(pdo=pdo, odds=odds, points=points, seed=seed), data_name=data.name
        )
    command = f"creditline fit --data {data} --target {target}" + "".join(
        f" --feature {name}" for name in feature or []
    )
    if policy is not None:
        command += f" --policy {policy}"
    header = (
        f"The scorecard was fitted by\n  {command} --out {out}\n"
        "which rewrites it and the report beside this file; edit the other sections freely."
    )
    text = with_scorecard(policy, fitted.scorecard, header)
    report_path = report or out.with_name(out.name.removesuffix(".yaml") + ".report.md")
    out.write_text(text, encoding="utf-8")
    report_path.write_text(fitted.report.markdown(), encoding="utf-8")
    test = fitted.report.test
    typer.echo(
        json.dumps(
            {
                "out": str(out),
                "report": str(report_path),
                "test_auc": round(test["auc"], 4),
                "test_ks": round(test["ks"], 4),
                "attributes": [a.feature for a in fitted.report.attributes],
                "left_out": fitted.report.left_out,
            },
            ensure_ascii=False,
        )
    )


@app.command()
def eod(
    on: Annotated[str, typer.Option("--date", help="Business date to close, YYYY-MM-DD.")],
) -> None:
    """Close a business date for every open loan: accrue interest, mark days past due, charge
    penalty interest and late fees. Idempotent; days missed since the last run go first."""
    from creditline.bootstrap import build

    try:
        business_date = date.fromisoformat(on)
    except ValueError:
        _fail(f"--date must be YYYY-MM-DD, not {on!r}")
    container = build(_settings())
    with _progress() as progress:
        tasks: dict[date, Any] = {}

        def show(day: date, done: int, total: int) -> None:
            if day not in tasks:
                tasks[day] = progress.add_task(f"end of day {day.isoformat()}", total=total)
            progress.update(tasks[day], completed=done, total=total)

        days = container.end_of_day.run(business_date, show)
    for day in days:
        typer.echo(json.dumps(day.document()))


@app.command()
def dispatch(
    once: Annotated[bool, typer.Option(help="One batch only.")] = False,
    batch: Annotated[int, typer.Option(min=1, max=100, help="Messages per batch.")] = 100,
) -> None:
    """Deliver the outbox now: the inbox, e-mail (CREDITLINE_SMTP_HOST) and the lender's
    webhook (CREDITLINE_WEBHOOK_URL); failures are retried later with backoff. Safe to run in
    several processes at once. Prints the counts as one JSON line."""
    from creditline.bootstrap import build
    from creditline.notices.dispatcher import counts_line

    container = build(_settings())
    try:
        run = container.dispatcher.run_once if once else container.dispatcher.run_until_idle
        typer.echo(counts_line(run(batch)))
    finally:
        container.close()


@app.command()
def remind() -> None:
    """Queue the reminders due now (a freeze ending within 3 days, income evidence expiring
    within 14) and an alert to the lender for each human review past its deadline; each is sent
    once. Prints the counts as one JSON line."""
    from creditline.bootstrap import build

    container = build(_settings())
    try:
        typer.echo(json.dumps(container.reminders.run()))
    finally:
        container.close()


@app.command("sweep-holds")
def sweep_holds() -> None:
    """Release expired holds and lift freezes whose end has passed, once."""
    from creditline.bootstrap import build

    container = build(_settings())
    total = {"holds_released": 0, "freezes_ended": 0, "failed": 0}
    while True:  # each pass takes a bounded batch
        swept = container.ledger.sweep()
        for key, value in swept.items():
            total[key] += value
        if not swept["holds_released"] and not swept["freezes_ended"]:
            break  # nothing more it can do (failures are logged and stay for the next run)
    typer.echo(json.dumps(total))


@app.command()
def token(
    role: Annotated[str, typer.Option(help="borrower, agent, analyst, approver, admin, service")],
    subject: Annotated[str, typer.Option(help="Borrower id, or staff/service name.")],
    hours: Annotated[int, typer.Option(min=1, max=24 * 30)] = 12,
) -> None:
    """Print a development bearer token for ROLE and SUBJECT."""
    from creditline.api.auth import issue_token
    from creditline.kernel.actors import Role
    from creditline.kernel.clock import SystemClock

    settings = _settings()
    try:
        parsed = Role(role)
    except ValueError:
        _fail(f"unknown role {role!r}; one of: {', '.join(r.value for r in Role)}")
    try:
        settings.refuse_unsafe_signing_key()
    except ValueError as exc:
        _fail(str(exc))
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
        _fail(str(exc))


@app.command()
def quote(
    amount: Annotated[str, typer.Option(help="Principal, a decimal string: 100000.00")],
    term: Annotated[int, typer.Option(help="Months, 1–36.")],
    annual_rate: Annotated[str, typer.Option(help="Nominal annual rate in percent: 12.0")],
    method: Annotated[
        str, typer.Option(help="equal_instalment, equal_principal or interest_first")
    ] = "equal_instalment",
    upfront_fee: Annotated[str | None, typer.Option(help="Fee taken from the advance.")] = None,
    instalment_fee: Annotated[
        str | None, typer.Option(help="Service fee paid with every instalment.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Drawdown date, YYYY-MM-DD (today).")] = None,
    currency: Annotated[str, typer.Option()] = "CNY",
    day_count: Annotated[str, typer.Option(help="ACT/365 or ACT/360")] = "ACT/365",
) -> None:
    """Print a loan's schedule, totals and APR as JSON (no server, no database)."""
    from creditline.kernel.clock import SystemClock
    from creditline.kernel.money import Money
    from creditline.loans.quote import quote as make_quote
    from creditline.loans.schedule import AnnualRate, DayCount, RepaymentMethod

    try:
        parsed_method = RepaymentMethod(method)
        parsed_day_count = DayCount(day_count)
        start_date = date.fromisoformat(start) if start else SystemClock().now().date()
        rate = AnnualRate(_percent(annual_rate), parsed_day_count)
    except ValueError as exc:
        _fail(str(exc))
    fees = [
        Money.parse(fee, currency) if fee is not None else None
        for fee in (upfront_fee, instalment_fee)
    ]
    document = make_quote(
        Money.parse(amount, currency), term, parsed_method, rate, start_date, *fees
    )
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


@app.command()
def apr(
    flows: Annotated[Path, typer.Option(help='JSON list of {"date", "amount"}; advances < 0.')],
    daily: Annotated[bool, typer.Option(help="The XIRR-style daily effective rate.")] = False,
    currency: Annotated[str, typer.Option()] = "CNY",
) -> None:
    """Print the APR of a cash-flow schedule (actuarial method, Reg Z Appendix J unit periods)."""
    from creditline.kernel.money import Money
    from creditline.loans.apr import CashFlow, apr_actuarial, apr_daily

    try:
        rows = json.loads(flows.read_text())
        parsed = [
            CashFlow(date.fromisoformat(row["date"]), Money.parse(row["amount"], currency).minor)
            for row in rows
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _fail(f"cannot read cash flows from {flows}: {exc}")
    method = "daily" if daily else "actuarial"
    value = apr_daily(parsed) if daily else apr_actuarial(parsed)
    typer.echo(json.dumps({"apr_percent": str(value), "method": method}))


def _percent(text: str) -> Decimal:
    """A percentage typed on the command line as an exact fraction: "12.0" → 0.12."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a number: {text!r}")
    return value / 100


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:
        _fail(f"configuration: {exc}")


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=not sys.stderr.isatty(),
    )


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
