"""A policy simulation decided on Spark (`creditline policy simulate --engine spark`): the
candidate and the active version run the same compiled query there, the features and the
decisions passing through Parquet, and the report is the one DuckDB gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run
from sqlalchemy import select
from test_policy_lifecycle import ANALYST, book, candidate

from creditline.bootstrap import Container
from creditline.decisions.simulation import through_parquet
from creditline.decisions.spark import simulation_on_spark
from creditline.decisions.tables import policy_simulation_lines
from creditline.kernel.actors import Actor

pytestmark = pytest.mark.xdist_group("spark")

# Three lines used over half their limit (the candidate's high-use rule cuts them), three not.
USES = ["12000.00", "15000.00", "2000.00", "0", "10500.00", "9999.00"]


def report(document: dict[str, Any]) -> dict[str, Any]:
    """A simulation's findings, without what names the run."""
    return {k: v for k, v in document.items() if k not in ("simulation_id", "simulated_at")}


def affected(c: Container, simulation_id: str) -> set[tuple[str, str, str]]:
    lines = policy_simulation_lines
    query = select(lines.c.line_id, lines.c.borrower_id, lines.c.change).where(
        lines.c.simulation_id == simulation_id
    )
    with c.db.reading() as connection:
        return {tuple(row) for row in connection.execute(query)}


def test_the_simulation_on_spark_reports_what_duckdb_reports(
    container: Container, agent: Actor, spark: Any, tmp_path: Path
) -> None:
    book(container, agent, USES)
    label = container.policies.submit(ANALYST, "submit", candidate()).document["policy"]

    on_duckdb = container.policies.simulate(ANALYST, "duckdb", label).document
    exchange = tmp_path / "exchange"
    on_spark = container.policies.simulate(
        ANALYST, "spark", label, simulation_on_spark(spark, exchange)
    ).document

    assert on_duckdb["adverse_count"] == 3 and on_duckdb["lines_total"] == len(USES)
    assert report(on_spark) == report(on_duckdb)
    assert json.dumps(report(on_spark), sort_keys=True) == json.dumps(
        report(on_duckdb), sort_keys=True
    )  # the same types too: integers stay integers
    found = affected(container, on_duckdb["simulation_id"])
    assert len(found) == 3
    assert affected(container, on_spark["simulation_id"]) == found
    # The features and each version's decisions stay in the exchange directory.
    [run] = exchange.iterdir()
    assert (run / "features.parquet").is_file()
    for side in ("active_decided", "candidate_decided"):
        assert list((run / side).glob("*.parquet"))
    # Through Parquet on DuckDB, the same again.
    through_duckdb = container.policies.simulate(
        ANALYST, "parquet", label, through_parquet(tmp_path / "duckdb")
    ).document
    assert report(through_duckdb) == report(on_duckdb)


def test_an_empty_book_simulates_on_spark(container: Container, spark: Any) -> None:
    label = container.policies.submit(ANALYST, "submit", candidate()).document["policy"]

    simulated = container.policies.simulate(ANALYST, "s", label, simulation_on_spark(spark))

    assert (simulated.document["lines_total"], simulated.document["adverse_count"]) == (0, 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_command_simulates_on_spark(
    creditline: Run, container: Container, agent: Actor, database_url: str, tmp_path: Path
) -> None:
    book(container, agent, USES)
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps(candidate()), encoding="utf-8")
    for step in (["submit", str(path)], ["simulate", "cn-standard@2026.12.1"]):
        args = [*step, "--by", "analyst-1"]
        if step[0] == "simulate":
            args += ["--engine", "spark", "--spark-master", "local[1]"]
            args += ["--exchange", str(tmp_path / "exchange")]
        done = creditline("policy", *args, database_url=database_url)
        assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["adverse_count"] == 3
    assert len(list((tmp_path / "exchange").iterdir())) == 1
