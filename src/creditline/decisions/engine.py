"""Running a compiled policy on DuckDB: one line inside a request, or a whole book in batch.

Both paths run the same compiled query; a single line is a one-row relation built from query
parameters, a batch is a table or view named `features`. A decision carries its action, new
limit, 1–4 reason codes, score, grade, the trace (every rule's outcome, every attribute's bin
and points) and the features it saw.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy

from creditline.decisions.cells import CellAssignment
from creditline.decisions.compiler import CompiledPolicy, compile_policy
from creditline.decisions.evaluate import Evaluator
from creditline.decisions.features import FEATURES, Feature, FeatureType
from creditline.decisions.policy import PolicyDocument
from creditline.kernel.errors import InvalidInput
from creditline.kernel.invariant import fail
from creditline.kernel.money import AMOUNT_MINOR_MAX
from creditline.ledger.ports import CapCheck, RegulatoryCaps

_SQL_TYPES = {
    FeatureType.INTEGER: "BIGINT",
    FeatureType.NUMBER: "DOUBLE",
    FeatureType.BOOLEAN: "BOOLEAN",
    FeatureType.CATEGORY: "VARCHAR",
}
FEATURE_COLUMNS = ("line_id", *FEATURES)  # a policy's own attributes come after these


@dataclass(frozen=True, slots=True)
class Decision:
    """What a policy decided for one line, with what it saw and why."""

    line_id: str
    action: str  # keep, increase, decrease, freeze, suspend, close
    limit_minor: int
    new_limit_minor: int
    reason_codes: tuple[str, ...]
    score: int
    grade: str
    band: str
    target_minor: int | None
    decisive_rule: str | None
    freeze_days: int | None
    policy: str
    trace: dict[str, Any]
    features: dict[str, Any]
    # The line's cell when an experiment runs (docs/decisions/0018), kept with the evidence.
    experiment: CellAssignment | None = None
    # Every value read for the line when versions on trial read more than this one (their
    # lender attributes): what they decide on beside it. Not evidence.
    inputs: Mapping[str, Any] | None = field(default=None, compare=False)

    def seen(self) -> Mapping[str, Any]:
        """What was read for the line: every version on trial decides on it."""
        return self.features if self.inputs is None else self.inputs

    @property
    def adverse(self) -> bool:
        """Whether the decision reduces what the borrower can draw (it needs a notice)."""
        return self.action in ("decrease", "freeze", "suspend", "close")

    def evidence(self) -> dict[str, Any]:
        """What the decision saw, as kept with its record: policy, score, trace, features, and
        the line's cell when an experiment runs."""
        evidence: dict[str, Any] = {
            "policy": self.policy,
            "score": self.score,
            "grade": self.grade,
            "band": self.band,
            "target_minor": self.target_minor,
            "decisive_rule": self.decisive_rule,
            "trace": self.trace,
            "features": self.features,
        }
        if self.experiment is not None:
            evidence["experiment"] = self.experiment.document()
        return evidence


def _check_value(feature: Feature, value: Any) -> None:
    """A feature's value as its type says: the in-process path must see what DuckDB would."""
    if value is None:
        return
    kind = feature.type
    fits = (
        (kind is FeatureType.INTEGER and type(value) is int and abs(value) <= AMOUNT_MINOR_MAX)
        or (kind is FeatureType.NUMBER and type(value) in (int, float) and math.isfinite(value))
        or (kind is FeatureType.BOOLEAN and type(value) is bool)
        or (kind is FeatureType.CATEGORY and value in feature.categories)
    )
    if not fits:
        raise InvalidInput(f"feature {feature.name} must be a {kind.value}", feature=feature.name)


def _column_types(features: Mapping[str, Feature]) -> dict[str, str]:
    """Each column of a features relation and its SQL type: the line, then each feature."""
    return {"line_id": "VARCHAR", **{f.name: _SQL_TYPES[f.type] for f in features.values()}}


def features_table_sql(name: str = "features", features: Mapping[str, Feature] = FEATURES) -> str:
    """DDL of a features table in DuckDB (for batch input)."""
    columns = ", ".join(f"{n} {t}" for n, t in _column_types(features).items())
    return f"CREATE TABLE {name} ({columns})"


def features_select_sql(source: str, features: Mapping[str, Feature] = FEATURES) -> str:
    """A SELECT of every feature column from `source` (a relation a query can read, such as
    Parquet), each cast to its type: a column written narrower elsewhere (INT32 for BIGINT)
    is decided as the type the policy was compiled for."""
    columns = ", ".join(f"CAST({n} AS {t}) AS {n}" for n, t in _column_types(features).items())
    return f"SELECT {columns} FROM {source}"


def load_features(
    connection: duckdb.DuckDBPyConnection,
    rows: list[dict[str, Any]],
    table: str = "features",
    features: Mapping[str, Feature] = FEATURES,
) -> None:
    """Append feature rows (missing features are null) to `table` in DuckDB, a typed NumPy
    array a column, scanned in one statement: DuckDB converting Python lists (`unnest` of a
    list parameter) cost 0.55-0.78 s of CPU for 20,000 rows of 29 features, this 0.17 s
    (docs/performance.md §8); a row-by-row `executemany` took 16 s for 10,000."""
    types = _column_types(features)
    columns = {name: _column([row.get(name) for row in rows], kind) for name, kind in types.items()}
    connection.register("features_batch", columns)
    try:
        connection.execute(f"INSERT INTO {table} SELECT {', '.join(types)} FROM features_batch")
    finally:
        connection.unregister("features_batch")


_NUMPY_TYPES = {"BIGINT": numpy.int64, "DOUBLE": numpy.float64, "BOOLEAN": numpy.bool_}


def _column(values: list[Any], sql_type: str) -> numpy.ndarray[Any, Any]:
    """One column's values as DuckDB scans them: text as objects (None is null), numbers and
    booleans typed, their missing values masked (null)."""
    objects = numpy.array(values, dtype=object)
    dtype = _NUMPY_TYPES.get(sql_type)
    if dtype is None:
        return objects
    missing = objects == None  # noqa: E711 (element-wise, over the array)
    if not missing.any():
        return objects.astype(dtype)
    objects[missing] = 0
    return numpy.ma.masked_array(objects.astype(dtype), mask=missing)


class Engine:
    """A compiled policy and an in-process DuckDB to run it on (one connection per thread)."""

    def __init__(self, policy: PolicyDocument, caps: RegulatoryCaps | None = None) -> None:
        """`caps`: the jurisdiction profile's caps every increase keeps under (CN-1, CN-2,
        US-6, unverified income); None for a policy run without a profile."""
        self.policy = policy
        self.caps = caps
        self.compiled: CompiledPolicy = compile_policy(policy, caps)
        self.features = policy.features
        types = _column_types(self.features)
        self.columns = tuple(types)  # the line, creditline's features, the policy's attributes
        placeholders = ", ".join(f"CAST(${n} AS {t}) AS {n}" for n, t in types.items())
        self._single_sql = self.compiled.sql_over(f"SELECT {placeholders}")
        self._evaluator = Evaluator(policy, caps)
        self._local = threading.local()

    def _connection(self) -> duckdb.DuckDBPyConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = duckdb.connect(":memory:")
            self._local.connection = connection
        return connection

    def decide(self, features: dict[str, Any]) -> Decision:
        """Decide one line from its features (missing ones are null), in-process."""
        return self.decision(self.row(features))

    def readable(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """Of `features` read for several versions, those this policy reads; a lender
        attribute's value its own definition does not take (another version defines the name
        otherwise) is unknown to it."""
        attributes = {a.name: a for a in self.policy.attributes}
        own = {}
        for name in self.columns:
            if name in features:
                value, attribute = features[name], attributes.get(name)
                own[name] = value if attribute is None or attribute.accepts(value) else None
        return own

    def row(self, features: dict[str, Any]) -> dict[str, Any]:
        """The compiled query's output row for one line, computed in-process."""
        unknown = sorted(set(features) - set(self.columns))
        if unknown:
            raise InvalidInput(f"unknown features: {', '.join(unknown)}", unknown=unknown)
        if type(features.get("limit_minor")) is not int:
            raise InvalidInput("limit_minor is required: the line's current limit")
        for name, feature in self.features.items():
            _check_value(feature, features.get(name))
        row = {name: features.get(name) for name in self.columns}
        return self._evaluator.row(row)

    def cap_check(self, row: dict[str, Any]) -> CapCheck | None:
        """The profile's caps on a line with the features of `row` (None: no profile caps)."""
        return self._evaluator.cap_check(row)

    def decline_reasons(self, row: dict[str, Any]) -> list[str]:
        """Why an application decided by `row` is declined: the rules that fired, or, when the
        score decided, the attributes that cost it points (`Evaluator.decline_reasons`)."""
        return self._evaluator.decline_reasons(row)

    def evidence(self, row: dict[str, Any]) -> dict[str, Any]:
        """What a decision from `row` saw, as kept with its record."""
        return self.decision(row).evidence()

    def decide_in_duckdb(self, features: dict[str, Any]) -> Decision:
        """Decide one line by running the compiled query on a one-row relation (slow: for
        checking that the two paths agree)."""
        params = {name: features.get(name) for name in self.columns}
        cursor = self._connection().execute(self._single_sql, params)
        names = [column[0] for column in cursor.description]
        row = cursor.fetchone()
        if row is None:
            fail("the compiled query returned no row for one row of features")
        return self.decision(dict(zip(names, row, strict=True)))

    def decide_table(
        self, connection: duckdb.DuckDBPyConnection, table: str = "features"
    ) -> duckdb.DuckDBPyRelation:
        """The decisions of every row of `table` (a DuckDB relation, unevaluated)."""
        sql = (
            self.compiled.sql
            if table == "features"
            else self.compiled.sql_over(f"SELECT * FROM {table}")
        )
        return connection.sql(sql)

    def decision(self, row: dict[str, Any]) -> Decision:
        """A decision from one row of the compiled query's output."""
        compiled = self.compiled
        attributes = [
            {
                "feature": feature,
                "bin": row[f"bin_{n}"],
                "points": row[f"pts_{n}"],
            }
            for n, feature in enumerate(compiled.attributes)
        ]
        rules = [{"id": rule, "fired": row[f"fired_{n}"]} for n, rule in enumerate(compiled.rules)]
        return Decision(
            line_id=row["line_id"],
            action=row["action"],
            limit_minor=row["limit_minor"],
            new_limit_minor=row["new_limit_minor"],
            reason_codes=tuple(row["reason_codes"]),
            score=row["score"],
            grade=row["grade"],
            band=row["band"],
            target_minor=row["target_minor"],
            decisive_rule=row["decisive_rule"],
            freeze_days=row["freeze_days_out"],
            policy=compiled.label,
            trace={"attributes": attributes, "rules": rules},
            features={name: row[name] for name in self.columns},
        )
