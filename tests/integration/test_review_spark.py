"""A book review decided on Spark applies through the same path as one decided on DuckDB:
the same decisions, records, evidence and notices, once a day; and `spark-submit` runs
`creditline review --engine spark` as docs/spark.md shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyspark
import pytest
from test_review import draw, open_line, recorded, topics

import creditline.cli
from creditline.bootstrap import Container
from creditline.decisions.spark import book_on_spark
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock

pytestmark = pytest.mark.xdist_group("spark")

SPARK_SUBMIT = Path(pyspark.__file__).parent / "bin" / "spark-submit"
ENTRY = Path(creditline.cli.__file__ or "").with_name("__main__.py")
SUBMIT_TIMEOUT_SECONDS = 300


def a_small_book(container: Container, agent: Actor) -> tuple[str, str]:
    """Two lines: one drawn five times this week (a velocity rule freezes it), one quiet."""
    busy = Actor("busy", Role.BORROWER)
    quiet = Actor("quiet", Role.BORROWER)
    frozen = open_line(container, agent, busy.subject)
    kept = open_line(container, agent, quiet.subject)
    for n in range(5):
        draw(container, busy, frozen, "100.00", f"v-{n}")
    return frozen, kept


def as_stored(document: dict[str, Any]) -> Any:
    return json.loads(json.dumps(document))


def test_a_review_on_spark_applies_what_the_policy_decides(
    container: Container, agent: Actor, clock: FixedClock, spark: Any, tmp_path: Path
) -> None:
    frozen, kept = a_small_book(container, agent)
    expected = {line: container.decisions.decide_line(line) for line in (frozen, kept)}
    exchange = tmp_path / "exchange"
    on_spark = book_on_spark(spark, exchange)
    assert container.decisions.review_book(decide=on_spark) == {
        "freeze:applied": 1,
        "keep:kept": 1,
    }
    [record] = recorded(container, frozen)
    assert record["action"] == "freeze"
    assert json.loads(str(record["reason_codes"])) == list(expected[frozen].reason_codes)
    assert json.loads(str(record["evidence"])) == as_stored(expected[frozen].evidence())
    assert topics(container, frozen)[-1] == "notice.adverse_change"
    assert recorded(container, kept) == []
    # The features and the decisions stay in the exchange directory, one run each.
    [run] = exchange.iterdir()
    assert (run / "features.parquet").is_file()
    assert list((run / "decisions").glob("*.parquet"))

    clock.advance(timedelta(hours=1))
    again = container.decisions.review_book(decide=book_on_spark(spark))
    assert again in (
        {"freeze:decided_today": 1, "keep:kept": 1},
        {"freeze:replayed": 1, "keep:kept": 1},
    )
    assert len(recorded(container, frozen)) == 1


def test_an_empty_book_on_spark_decides_nothing(container: Container, spark: Any) -> None:
    assert container.decisions.review_book(decide=book_on_spark(spark)) == {}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_spark_submit_runs_the_review_command(
    container: Container, agent: Actor, clock: FixedClock, tmp_path: Path
) -> None:
    # The command runs on the system clock: the book must be recent on it.
    clock.set(datetime.now(UTC))
    frozen, _ = a_small_book(container, agent)
    env = {**os.environ, "CREDITLINE_DATABASE_URL": container.settings.database_url}
    done = subprocess.run(
        [
            str(SPARK_SUBMIT),
            *("--master", "local[2]", "--deploy-mode", "client"),
            *("--conf", f"spark.pyspark.driver.python={sys.executable}"),
            *("--conf", "spark.ui.enabled=false"),
            *(str(ENTRY), "review", "--engine", "spark", "--exchange", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=SUBMIT_TIMEOUT_SECONDS,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "freeze:applied": 1,
        "keep:kept": 1,
    }
    assert container.ledger.get_line(Actor("busy", Role.BORROWER), frozen)["status"] == "frozen"


def test_spark_options_need_the_spark_engine(creditline: Any) -> None:
    done = creditline("review", "--exchange", "/tmp")
    assert done.returncode == 2
    assert "--spark-master and --exchange are for --engine spark" in done.stderr
