"""`creditline quote` and `creditline apr` as a user runs them: JSON out, or one line and 2."""

import json
from pathlib import Path

from conftest import Run


def test_quote_prints_the_schedule_and_its_apr(creditline: Run) -> None:
    run = creditline(
        "quote",
        "--amount",
        "100000.00",
        "--term",
        "12",
        "--method",
        "equal_instalment",
        "--annual-rate",
        "12.0",
        "--upfront-fee",
        "500.00",
        "--start",
        "2026-01-15",
    )
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert (document["apr_percent"], document["total_cost"]) == ("12.90", "7089.16")
    assert len(document["instalments"]) == 12


def test_quote_at_30_360_has_an_apr_of_its_nominal_rate_and_shows_its_day_count(
    creditline: Run,
) -> None:
    # 1% of the balance every month, the annuity at 1%: 12.00% for a loan drawn on 31 January
    # too, its due dates on the last day of later months counted as whole months.
    run = creditline(
        "quote",
        "--amount",
        "10000.00",
        "--term",
        "12",
        "--annual-rate",
        "12.00",
        "--day-count",
        "30/360",
        "--start",
        "2026-01-31",
    )
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert (document["apr_percent"], document["day_count"]) == ("12.00", "30/360")
    assert document["annual_rate_percent"] == "12.00"
    assert document["instalments"][1]["interest"] == "92.12"  # 1% of 9,211.51 in February


def test_quote_by_a_product_names_its_cap(creditline: Run) -> None:
    run = creditline(
        "quote", "--product", "test-priced-cny", "--amount", "12000.00", "--term", "12",
        "--start", "2026-11-28",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert (document["apr_percent"], document["apr_cap_percent"]) == ("13.98", "24.00")
    assert (document["profile"], document["day_count"]) == ("TEST-CN", "ACT/365")
    assert document["rate_cap_basis"] == "the TEST-CN profile's cap"


def test_quote_by_a_product_above_a_cap_is_one_line_and_exit_2(creditline: Run) -> None:
    for args, code in (
        (("--product", "test-month-end-cny", "--term", "1"), "rate_above_cap"),
        (("--product", "test-lpr-cny", "--term", "12"), "rate_above_cap"),
        (("--product", "test-bank-cny", "--term", "24", "--method", "interest_first"),
         "term_above_cap"),
        (("--product", "no-such-product", "--term", "12"), "product_not_found"),
        (("--product", "test-priced-cny", "--term", "12", "--annual-rate", "12"), "--product"),
    ):  # fmt: skip
        run = creditline("quote", "--amount", "10000.00", "--start", "2026-11-28", *args)
        assert run.returncode == 2, args
        assert run.stdout == ""
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert code in run.stderr


def test_apr_reads_a_flows_file(creditline: Run, tmp_path: Path) -> None:
    flows = tmp_path / "flows.json"
    flows.write_text(
        json.dumps(
            [
                {"date": "2026-01-15", "amount": "-1000.00"},
                {"date": "2027-01-15", "amount": "1100.00"},
            ]
        )
    )
    run = creditline("apr", "--flows", str(flows), "--daily")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"apr_percent": "10.00", "method": "daily"}


def test_bad_input_is_one_line_on_stderr_and_exit_2(creditline: Run, tmp_path: Path) -> None:
    for args in (
        ("quote", "--amount", "100.001", "--term", "12", "--annual-rate", "12"),
        ("quote", "--amount", "100.00", "--term", "40", "--annual-rate", "12"),
        ("quote", "--amount", "100.00", "--term", "4", "--annual-rate", "abc"),
        (
            "quote",
            "--amount",
            "100.00",
            "--term",
            "4",
            "--annual-rate",
            "12",
            "--day-count",
            "30/365",
        ),
        ("quote", "--amount", "100.00", "--term", "4"),
        ("quote", "--amount", "100.00", "--term", "4", "--annual-rate", "12", "--start", "1 May"),
        ("apr", "--flows", str(tmp_path / "missing.json")),
    ):
        run = creditline(*args)
        assert run.returncode == 2, args
        assert run.stdout == ""
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
