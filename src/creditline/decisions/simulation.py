"""Impact simulation: a candidate policy against the active one on the whole book, in DuckDB.

Both run the same compiled query a review runs over today's features: on one DuckDB table
here (`Engine.decide_table`), or as a review on Spark does (`decide_parquet`: the features and
the decisions passing through Parquet, `decisions.spark.simulation_on_spark`). The comparison
is SQL in DuckDB over the two results, joined by line. A line is
adversely affected when the candidate leaves the borrower less to draw than the active policy
would: a harsher action (keep/increase < decrease < freeze < suspend < close), or the same cut
to a lower limit. The report counts actions and reasons under each, the affected lines with
their projected change, exposure (limits and available credit) under each by the candidate's
grade and income band, and how often each rule fires under each (rules keep their ids across
versions). A Vega-Lite chart of the exposure is kept with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from creditline.decisions.attributes import features_with, read_together
from creditline.decisions.batch import decide_parquet, parquet_files, write_features
from creditline.decisions.engine import Engine, features_table_sql, load_features
from creditline.decisions.features import Feature
from creditline.kernel.errors import InvalidInput
from creditline.kernel.money import format_minor

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# (a DuckDB connection, the engines by the name of the view of their decisions, the book's
# features) -> each engine's decision rows, as that view (or table) in the connection
Decider = Callable[[duckdb.DuckDBPyConnection, dict[str, Engine], list[dict[str, Any]]], None]

# How much a decision takes from what the borrower can draw, least first.
_SEVERITY = (
    "CASE {0} WHEN 'close' THEN 4 WHEN 'suspend' THEN 3 WHEN 'freeze' THEN 2 "
    "WHEN 'decrease' THEN 1 ELSE 0 END"
)
_COMPARED = f"""
CREATE VIEW compared AS
SELECT b.line_id, b.limit_minor, b.used_minor,
    b.action AS action_active, c.action AS action_candidate,
    b.new_limit_minor AS limit_active, c.new_limit_minor AS limit_candidate,
    c.reason_codes AS reasons_candidate, c.decisive_rule AS rule_candidate,
    c.grade, c.band,
    {_SEVERITY.format("b.action")} AS severity_active,
    {_SEVERITY.format("c.action")} AS severity_candidate
FROM active_decided b JOIN candidate_decided c USING (line_id)
"""
_ADVERSE = (
    "severity_candidate > 0 AND (severity_candidate > severity_active OR "
    "(severity_candidate = severity_active AND limit_candidate < limit_active))"
)
# What a borrower could draw after a decision: nothing while drawing is blocked.
_AVAILABLE = "CASE WHEN severity_{0} >= 2 THEN 0 ELSE GREATEST(limit_{0} - used_minor, 0) END"


@dataclass(frozen=True, slots=True)
class AffectedLine:
    """A line the candidate would change for the worse, and how."""

    line_id: str
    action: str
    limit_before_minor: int  # today's limit
    limit_after_minor: int
    reason_codes: tuple[str, ...]
    rule: str | None

    def change(self, currency: str) -> dict[str, Any]:
        """The projected change as a notice and the borrower's explanation show it."""
        return {
            "action": self.action,
            "currency": currency,
            "limit_before": format_minor(self.limit_before_minor, currency),
            "limit_after": format_minor(self.limit_after_minor, currency),
            "limit_before_minor": self.limit_before_minor,
            "limit_after_minor": self.limit_after_minor,
            "reason_codes": list(self.reason_codes),
            "rule": self.rule,
        }


@dataclass(frozen=True, slots=True)
class Simulated:
    """A simulation's findings."""

    lines_total: int
    affected: list[AffectedLine]
    summary: dict[str, Any]  # counts, exposure and the rule diff (amounts in minor units)
    chart: dict[str, Any]  # Vega-Lite

    @property
    def close_count(self) -> int:
        """Affected lines the candidate closes."""
        return sum(1 for line in self.affected if line.action == "close")


def simulate(
    candidate: Engine,
    active: Engine,
    rows: list[dict[str, Any]],
    decide: Decider | None = None,
) -> Simulated:
    """The candidate against the active policy on the features of every line in `rows`,
    decided as `decide` says (default: in this DuckDB connection, `in_duckdb`)."""
    connection = duckdb.connect(":memory:")
    try:
        engines = {"active_decided": active, "candidate_decided": candidate}
        (decide or in_duckdb)(connection, engines, rows)
        connection.execute(_COMPARED)
        affected = _affected(connection)
        summary = {
            "currency": candidate.policy.currency,
            "lines_total": len(rows),
            "adverse_count": len(affected),
            "actions": _actions(connection),
            "reasons": _reasons(connection),
            "exposure": _exposure(connection),
            "rules": _rules(connection, candidate, active),
        }
    finally:
        connection.close()
    return Simulated(len(rows), affected, summary, exposure_chart(summary))


def in_duckdb(
    connection: duckdb.DuckDBPyConnection, engines: dict[str, Engine], rows: list[dict[str, Any]]
) -> None:
    """Each engine's decisions as a view over one features table in `connection`."""
    features = features_of(engines.values())
    connection.execute(features_table_sql(features=features))
    load_features(connection, rows, features=features)
    for name, engine in engines.items():
        engine.decide_table(connection).create_view(name)


def features_of(engines: Iterable[Engine]) -> dict[str, Feature]:
    """The columns of the features the `engines` decide together: creditline's features and
    the lender attributes each reads. Two versions that type one attribute differently cannot
    share its column (`InvalidInput`)."""
    engines = list(engines)
    attributes = read_together(engine.policy.attributes for engine in engines)
    shared = {attribute.name: attribute for attribute in attributes}
    for engine in engines:
        for attribute in engine.policy.attributes:
            first = shared[attribute.name]
            if (attribute.type, attribute.categories) != (first.type, first.categories):
                raise InvalidInput(
                    f"attribute {attribute.name} is typed differently by the versions compared",
                    attribute=attribute.name,
                )
    return features_with(attributes)


def through_parquet(directory: Path, spark: SparkSession | None = None) -> Decider:
    """A decider that writes the features as Parquet into `directory` (made if missing),
    decides them there with each engine (`decide_parquet`: on `spark`, else DuckDB) and loads
    the decision rows back as tables; the files may go once it has run."""

    def decide(
        connection: duckdb.DuckDBPyConnection,
        engines: dict[str, Engine],
        rows: list[dict[str, Any]],
    ) -> None:
        if not rows:  # nothing to decide (and no file Spark would write for it)
            in_duckdb(connection, engines, rows)
            return
        features = directory / "features.parquet"
        write_features(rows, features, features_of(engines.values()))
        for name, engine in engines.items():
            out = directory / name
            # As file: URIs for Spark (a cluster's default file system may be HDFS).
            source, target = (
                (features.resolve().as_uri(), out.resolve().as_uri())
                if spark is not None
                else (str(features), str(out))
            )
            decide_parquet(engine, source, target, spark)
            path = parquet_files(str(out)).replace("'", "''")
            connection.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{path}')")

    return decide


def _affected(connection: duckdb.DuckDBPyConnection) -> list[AffectedLine]:
    found = connection.execute(
        "SELECT line_id, action_candidate, limit_minor, limit_candidate, reasons_candidate, "
        f"rule_candidate FROM compared WHERE {_ADVERSE} ORDER BY line_id"
    ).fetchall()
    return [
        AffectedLine(line_id, action, before, after, tuple(reasons), rule)
        for line_id, action, before, after, reasons, rule in found
    ]


def _actions(connection: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for side in ("active", "candidate"):
        for action, count in connection.execute(
            f"SELECT action_{side}, count(*) FROM compared GROUP BY 1 ORDER BY 1"
        ).fetchall():
            counts.setdefault(action, {"active": 0, "candidate": 0})[side] = count
    return counts


def _reasons(connection: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for side, view in (("active", "active_decided"), ("candidate", "candidate_decided")):
        for code, count in connection.execute(
            f"SELECT unnest(reason_codes) AS code, count(*) FROM {view} "
            "WHERE action <> 'keep' GROUP BY 1 ORDER BY 1"
        ).fetchall():
            counts.setdefault(code, {"active": 0, "candidate": 0})[side] = count
    return counts


def _exposure(connection: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Limits and available credit by the candidate's grade and income band: today, under the
    active policy and under the candidate."""
    found = connection.execute(
        f"""
        SELECT grade, band, count(*) AS lines,
            CAST(sum(limit_minor) AS BIGINT), CAST(sum(limit_active) AS BIGINT),
            CAST(sum(limit_candidate) AS BIGINT),
            CAST(sum({_AVAILABLE.format("active")}) AS BIGINT),
            CAST(sum({_AVAILABLE.format("candidate")}) AS BIGINT),
            CAST(sum(CASE WHEN {_ADVERSE} THEN 1 ELSE 0 END) AS BIGINT)
        FROM compared GROUP BY grade, band ORDER BY grade, band
        """
    ).fetchall()
    names = (
        "grade",
        "band",
        "lines",
        "limit_today_minor",
        "limit_active_minor",
        "limit_candidate_minor",
        "available_active_minor",
        "available_candidate_minor",
        "adverse_count",
    )
    return [dict(zip(names, row, strict=True)) for row in found]


def _rules(
    connection: duckdb.DuckDBPyConnection, candidate: Engine, active: Engine
) -> list[dict[str, Any]]:
    """How many lines each rule fires on, and decides, under each policy (by rule id)."""
    fired: dict[str, dict[str, int]] = {}
    for side, engine, view in (
        ("active", active, "active_decided"),
        ("candidate", candidate, "candidate_decided"),
    ):
        rules = engine.compiled.rules
        if rules:
            sums = ", ".join(
                f"CAST(sum(CAST(fired_{n} AS INTEGER)) AS BIGINT)" for n in range(len(rules))
            )
            sums_row = connection.execute(f"SELECT {sums} FROM {view}").fetchone() or ()
            for rule, count in zip(rules, sums_row, strict=True):
                fired.setdefault(rule, {})[f"fired_{side}"] = int(count or 0)
        for rule, count in connection.execute(
            f"SELECT decisive_rule, count(*) FROM {view} WHERE decisive_rule IS NOT NULL GROUP BY 1"
        ).fetchall():
            fired.setdefault(rule, {})[f"decisive_{side}"] = count
    out = []
    for rule in sorted(fired):
        counts = {
            key: fired[rule].get(key, 0)
            for key in ("fired_active", "fired_candidate", "decisive_active", "decisive_candidate")
        }
        counts["fired_change"] = counts["fired_candidate"] - counts["fired_active"]
        out.append({"rule": rule, **counts})
    return out


def exposure_chart(summary: dict[str, Any]) -> dict[str, Any]:
    """A Vega-Lite bar chart: limits under the active policy and the candidate, by grade."""
    by_grade: dict[str, dict[str, int]] = {}
    for row in summary["exposure"]:
        grade = by_grade.setdefault(row["grade"], {"active": 0, "candidate": 0})
        grade["active"] += row["limit_active_minor"]
        grade["candidate"] += row["limit_candidate_minor"]
    values = [
        {"grade": grade, "policy": side, "limit_minor": totals[side]}
        for grade, totals in sorted(by_grade.items())
        for side in ("active", "candidate")
    ]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": f"Limits by grade ({summary['currency']}, minor units)",
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "x": {"field": "grade", "type": "nominal"},
            "xOffset": {"field": "policy"},
            "y": {"field": "limit_minor", "type": "quantitative"},
            "color": {"field": "policy", "type": "nominal"},
        },
    }
