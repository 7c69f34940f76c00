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
        ("apr", "--flows", str(tmp_path / "missing.json")),
    ):
        run = creditline(*args)
        assert run.returncode == 2, args
        assert run.stdout == ""
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
