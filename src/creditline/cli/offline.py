"""Commands that need no store: policy lint, scorecard fits, quotes and APRs."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from creditline.cli.app import app, err, fail, policy_app


@policy_app.command("lint")
def policy_lint(path: Annotated[Path, typer.Argument(help="A policy document (YAML).")]) -> None:
    """Check a policy: known features and functions only, specific reason codes on every rule,
    no unreachable rule, a complete limit matrix. Prints each problem; exits 1 if any."""
    import yaml

    from creditline.decisions.policy import check_policy

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {str(exc).splitlines()[0]}")
    policy, problems = check_policy(document)
    for problem in problems:
        typer.echo(problem)
    name = str(path) if policy is None else policy.label
    typer.echo(f"{name}: {len(problems)} problems", err=True)
    raise typer.Exit(1 if problems else 0)


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
        fail(str(exc))
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
        fail(f"cannot read cash flows from {flows}: {exc}")
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
