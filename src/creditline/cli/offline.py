"""Commands that need no store: policy lint, scorecard fits, quotes and APRs."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from creditline.cli.app import (
    AttributesOption,
    app,
    err,
    fail,
    policy_app,
    registry_or_fail,
    settings_or_fail,
)

if TYPE_CHECKING:
    from creditline.loans.schedule import AnnualRate


@policy_app.command("lint")
def policy_lint(
    path: Annotated[Path, typer.Argument(help="A policy document (YAML).")],
    attributes: AttributesOption = None,
) -> None:
    """Check a policy: known features and functions only, specific reason codes on every rule,
    no unreachable rule, a complete limit matrix. Prints each problem; exits 1 if any."""
    import yaml

    from creditline.decisions.policy import check_policy

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {str(exc).splitlines()[0]}")
    policy, problems = check_policy(document, registry=registry_or_fail(attributes))
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
    attributes: AttributesOption = None,
) -> None:
    """Fit a scorecard with optbinning (monotonic bins, WoE, logistic regression, points) and
    write it, into a copy of --policy when given, with a report: AUC, KS, Gini, IV, bins."""
    from creditline.decisions.fitting import FitOptions, read_data, with_scorecard
    from creditline.decisions.fitting import fit as fit_scorecard

    registry = registry_or_fail(attributes)
    x, y = read_data(data, target, feature, registry)
    options = FitOptions(pdo=pdo, odds=odds, points=points, seed=seed)
    with err.status("fitting"):
        fitted = fit_scorecard(x, y, options, data_name=data.name, registry=registry)
    command = f"creditline fit --data {data} --target {target}" + "".join(
        f" --feature {name}" for name in feature or []
    )
    if attributes is not None:
        command += f" --attributes {attributes}"
    if policy is not None:
        command += f" --policy {policy}"
    header = (
        f"The scorecard was fitted by\n  {command} --out {out}\n"
        "which rewrites it and the report beside this file; edit the other sections freely."
    )
    text = with_scorecard(policy, fitted.scorecard, header, fitted.attributes)
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
    annual_rate: Annotated[
        str | None,
        typer.Option(help="Nominal annual rate in percent: 12.0 (or price by --product)."),
    ] = None,
    product: Annotated[
        str | None,
        typer.Option(
            help="Price as a drawdown by this product of the catalogue "
            "(CREDITLINE_PRODUCTS_FILE, else the shipped one): its rate, day count and fees, "
            "its profile's rate cap and term limits."
        ),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            help="equal_instalment, equal_principal or interest_first "
            "(default: equal_instalment, or the product's)"
        ),
    ] = None,
    upfront_fee: Annotated[str | None, typer.Option(help="Fee taken from the advance.")] = None,
    instalment_fee: Annotated[
        str | None, typer.Option(help="Service fee paid with every instalment.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Drawdown date, YYYY-MM-DD (today).")] = None,
    currency: Annotated[str, typer.Option()] = "CNY",
    day_count: Annotated[
        str,
        typer.Option(
            help="ACT/365 or ACT/360 (actual days over a 365- or 360-day year) or 30/360 "
            "(a month's interest is the annual rate / 12)"
        ),
    ] = "ACT/365",
) -> None:
    """Print a loan's schedule, totals, APR, effective annual rate and the rate and day count it
    was priced at, as JSON (no server, no database).

    The APR follows Regulation Z Appendix J with every fee in it: months are measured back from
    each due date, so a loan drawn on the 29th, 30th or 31st and due on that day or the last
    day of later months counts whole months. The effective annual rate is the daily IRR.

    With --product the quote is priced as a drawdown and names its cap and where the cap comes
    from; it is refused (exit 2) when the nominal rate, the daily rate × 365, the APR (APRC)
    or, where the profile says so, the effective annual rate is above the profile's cap on any
    drawdown date, or an interest-first term is longer than the profile allows."""
    try:
        start_date = date.fromisoformat(start) if start else None
    except ValueError as exc:
        fail(str(exc))
    if product is not None:
        if annual_rate is not None or upfront_fee is not None or instalment_fee is not None:
            fail("--product sets the rate and fees: leave out --annual-rate and the fees")
        document = _product_quote(product, amount, term, method, start_date)
    elif annual_rate is None:
        fail("give --annual-rate, or --product to price by a product")
    else:
        rate = _rate(annual_rate, day_count)
        fees = (upfront_fee, instalment_fee)
        document = _plain_quote(amount, currency, term, method, rate, start_date, fees)
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _rate(annual_rate: str, day_count: str) -> AnnualRate:
    from creditline.loans.schedule import AnnualRate, DayCount

    try:
        return AnnualRate(_percent(annual_rate), DayCount(day_count))
    except ValueError as exc:
        fail(str(exc))


def _plain_quote(
    amount: str,
    currency: str,
    term: int,
    method: str | None,
    rate: AnnualRate,
    start_date: date | None,
    fees: tuple[str | None, str | None],
) -> dict[str, object]:
    """A quote at `rate` with the given fees."""
    from creditline.kernel.clock import SystemClock
    from creditline.kernel.money import Money
    from creditline.loans.quote import quote as make_quote
    from creditline.loans.schedule import RepaymentMethod

    try:
        parsed_method = RepaymentMethod(method or RepaymentMethod.EQUAL_INSTALMENT.value)
    except ValueError as exc:
        fail(str(exc))
    upfront, instalment = (None if fee is None else Money.parse(fee, currency) for fee in fees)
    principal = Money.parse(amount, currency)
    on = start_date or SystemClock().now().date()
    return make_quote(principal, term, parsed_method, rate, on, upfront, instalment)


def _product_quote(
    product: str, amount: str, term: int, method: str | None, start_date: date | None
) -> dict[str, object]:
    """A quote by a catalogue product, priced as a drawdown is."""
    from creditline.kernel.clock import SystemClock
    from creditline.loans.pricing import catalogue_quote

    products_file = settings_or_fail().products_file
    now = SystemClock().now()
    return catalogue_quote(products_file, product, amount, term, method, start_date, now)


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
