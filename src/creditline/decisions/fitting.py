"""Fitting a policy's scorecard on labelled data with optbinning (the `fit` extra).

Columns are creditline features (same names and units) plus a 0/1 target where 1 is a bad
outcome. The data is split 70/30, stratified, with a fixed seed; bins, WoE and the logistic
regression are fitted on the 70 %, and the report measures both parts (AUC, KS, Gini) with
each attribute's IV and bins.

Each numeric feature is binned monotonically in the direction its reason code describes (a
higher utilisation is never worth more points), so the reason a decision names is always
true of the borrower. A categorical or boolean feature cannot be constrained while binning;
one whose fitted points contradict its reason is left out and the report says so.

Points are scaled by PDO/odds and rounded, intercept-based: each attribute's worst bin is 0
and the intercept is the scorecard's base points. Bin edges are written as the shortest
decimals that put every row of the data in the same bin as optbinning's own edges, so the
exported scorecard scores those rows exactly as optbinning does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from creditline.decisions.attributes import (
    BORROWER_COLUMN,
    LenderAttribute,
    Registry,
    features_with,
)
from creditline.decisions.features import Feature, FeatureType, Risk
from creditline.decisions.fit_attributes import AttributeReport, attribute_of, contradiction
from creditline.decisions.fit_development import development_of
from creditline.decisions.policy import Bin, Scorecard
from creditline.kernel.errors import InvalidInput

_EXTRA = "creditline fit needs the fit extra: pip install 'creditline[fit]'"


@dataclass(frozen=True, slots=True)
class FitOptions:
    """How to fit: the points scaling, the share of the data held out, and the split's seed."""

    pdo: int = 20  # points to double the good:bad odds
    odds: int = 50  # good:bad odds at `points`
    points: int = 600
    test_size: Decimal = Decimal("0.3")
    seed: int = 42


@dataclass(slots=True)
class FitReport:
    """What a fit measured: the data, quality on both parts, each attribute, what was left out."""

    data: str
    target: str
    rows: int
    bads: int
    options: FitOptions
    train: dict[str, float] = field(default_factory=dict)  # auc, ks, gini
    test: dict[str, float] = field(default_factory=dict)
    attributes: list[AttributeReport] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # feature -> why

    def markdown(self) -> str:
        """The report as Markdown, as written beside the fitted policy."""
        options = self.options
        test_percent = int(100 * options.test_size)
        lines = [
            f"# Scorecard fit: {self.data}",
            "",
            f"- target `{self.target}` (1 = bad): {self.rows:,} rows, {self.bads:,} bad "
            f"({100 * self.bads / self.rows:.2f} %)",
            f"- split {100 - test_percent}/{test_percent}, stratified, seed {options.seed}; "
            "fitted on the training part",
            f"- scaling: {options.points} points at good:bad odds {options.odds}:1, "
            f"{options.pdo} points to double the odds; each attribute's worst bin is 0 points",
            "",
            "| measure | train | test |",
            "|---|---:|---:|",
        ]
        lines += [
            f"| {name} | {self.train[key]:.4f} | {self.test[key]:.4f} |"
            for key, name in (("auc", "AUC"), ("ks", "KS"), ("gini", "Gini"))
        ]
        lines += ["", "## Attributes, by information value", ""]
        lines += ["| feature | reason | IV |", "|---|---|---:|"]
        lines += [f"| {a.feature} | {a.reason} | {a.iv:.4f} |" for a in self.attributes]
        for name, why in self.left_out.items():
            lines.append(f"| {name} | left out: {why} | |")
        for attribute in self.attributes:
            lines += ["", f"### {attribute.feature}", ""]
            lines += ["| bin | count | bad rate | WoE | IV | points |"]
            lines += ["|---|---:|---:|---:|---:|---:|"]
            lines += [
                f"| {b.label} | {b.count:,} | {b.bad_rate:.4f} | {b.woe:.4f} | {b.iv:.4f} "
                f"| {b.points} |"
                for b in attribute.bins
            ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Fitted:
    """A fitted scorecard, its report, and optbinning's model behind them."""

    scorecard: Scorecard
    report: FitReport
    model: Any  # the fitted optbinning.scorecard.Scorecard
    attributes: list[LenderAttribute] = field(default_factory=list)  # the lender's, scored


def read_data(
    path: Path, target: str, features: list[str] | None = None, registry: Registry | None = None
) -> tuple[Any, Any]:
    """(X, y) from a CSV of feature columns (creditline's or the `registry`'s lender
    attributes) and a 0/1 target; `InvalidInput` on bad data."""
    known = features_with((registry or {}).values())
    pd = _require("pandas")
    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read {path}: {str(error).splitlines()[0]}") from None
    if target not in header:
        raise InvalidInput(f"{path}: no target column {target!r}")
    # A lender's attribute file keys its rows by borrower: that column is not scored.
    names = features or [c for c in header if c not in (target, BORROWER_COLUMN)]
    for name in names:
        if name not in header:
            raise InvalidInput(f"{path}: no column {name!r}")
        feature = known.get(name)
        if feature is None:
            raise InvalidInput(
                f"{path}: column {name!r} is not a creditline feature or a registered attribute"
            )
        if feature.reason is None:
            raise InvalidInput(f"feature {name!r} is not scored (it has no adverse reason code)")
    if not names:
        raise InvalidInput(f"{path}: no feature columns")
    categorical = [n for n in names if known[n].type in (FeatureType.CATEGORY, FeatureType.BOOLEAN)]
    try:
        frame = pd.read_csv(path, usecols=[*names, target], dtype=dict.fromkeys(categorical, str))
    except ValueError as error:
        raise InvalidInput(f"{path}: {str(error).splitlines()[0]}") from None
    y = frame[target]
    if y.isna().any() or not set(y.unique()) <= {0, 1}:
        raise InvalidInput(
            f"{path}: the target {target!r} must be 0 (good) or 1 (bad) on every row"
        )
    if y.nunique() < 2:
        raise InvalidInput(f"{path}: the target {target!r} needs both good and bad rows")
    for name in names:
        column, kind = frame[name], known[name].type
        if kind in (FeatureType.INTEGER, FeatureType.NUMBER):
            if not pd.api.types.is_numeric_dtype(column):
                raise InvalidInput(f"{path}: column {name!r} must be numeric")
        else:
            values = known[name].categories or ("true", "false")
            unknown = sorted(set(column.dropna()) - set(values))
            if unknown:
                raise InvalidInput(f"{path}: column {name!r} has unknown values {unknown[:3]}")
    return frame[names], y.astype("int64")


def fit(
    x: Any,
    y: Any,
    options: FitOptions = FitOptions(),
    data_name: str = "data",
    registry: Registry | None = None,
) -> Fitted:
    """Fit a scorecard on (x, y) and report its quality; see the module docstring. Columns
    that are not creditline features are the `registry`'s lender attributes."""
    registered = registry or {}
    known = features_with(registered.values())
    model_selection = _require("sklearn.model_selection")
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        x, y, test_size=float(options.test_size), stratify=y, random_state=options.seed
    )
    names = list(x.columns)
    left_out: dict[str, str] = {}
    model = _fit_model(names, x_train, y_train, options, known)
    # Leaving one attribute out moves the others' weights: fit again until none contradicts.
    while found := {n: why for n in names if (why := contradiction(model, known[n]))}:
        left_out |= found
        names = [n for n in names if n not in left_out]
        if not names:
            raise InvalidInput("no feature is left to score: " + "; ".join(left_out.values()))
        model = _fit_model(names, x_train, y_train, options, known)
    report = FitReport(
        data=data_name,
        target=str(y.name),
        rows=len(y),
        bads=int(y.sum()),
        options=options,
        train=_quality(y_train, model.score(x_train[names])),
        test=_quality(y_test, model.score(x_test[names])),
        left_out=left_out,
    )
    attributes = []
    for name in names:
        attribute, attribute_report = attribute_of(model, known[name], x[name])
        attributes.append(attribute)
        report.attributes.append(attribute_report)
    report.attributes.sort(key=lambda a: -a.iv)
    scorecard = Scorecard(
        base_points=int(model.intercept_),
        pdo=Decimal(options.pdo),
        base_odds=Decimal(options.odds),
        attributes=attributes,
        # The training part is the development sample monitoring compares with (0021).
        development=development_of(attributes, x_train, y_train, model.score(x_train[names])),
    )
    lender = [registered[n] for n in names if n in registered]
    return Fitted(scorecard=scorecard, report=report, model=model, attributes=lender)


def scorecard_document(scorecard: Scorecard) -> dict[str, Any]:
    """The scorecard as plain YAML data: edges as plain numbers, one bin per line."""

    def number(value: Decimal) -> int | float:
        return int(value) if value == value.to_integral_value() else float(value)

    def bin_document(bin_: Bin) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if bin_.values is not None:
            out["values"] = list(bin_.values)
        if bin_.lower is not None:
            out["lower"] = number(bin_.lower)
        if bin_.upper is not None:
            out["upper"] = number(bin_.upper)
        return {**out, "points": bin_.points}

    return {
        "base_points": scorecard.base_points,
        "pdo": number(scorecard.pdo),
        "base_odds": number(scorecard.base_odds),
        "attributes": [
            {
                "feature": a.feature,
                "reason": a.reason,
                "missing_points": a.missing_points,
                "bins": [bin_document(bin_) for bin_ in a.bins],
            }
            for a in scorecard.attributes
        ],
        **({} if scorecard.development is None else {"development": _development(scorecard)}),
    }


def _development(scorecard: Scorecard) -> dict[str, Any]:
    """The development shares as plain YAML data (shares as plain numbers)."""
    development = scorecard.development
    if development is None:
        return {}
    document = development.model_dump(mode="json", exclude_none=True)
    for band in document["score_bands"]:
        band["share"] = float(band["share"])
    for attribute in document["attributes"]:
        attribute["bins"] = [float(s) for s in attribute["bins"]]
        attribute["missing"] = float(attribute["missing"])
    return document


def with_scorecard(
    base: Path | None,
    scorecard: Scorecard,
    header: str,
    attributes: list[LenderAttribute] | None = None,
) -> str:
    """YAML text: the policy at `base` with its scorecard and the lender `attributes` it scores
    replaced (linted), or those sections alone when there is no base. Bins are written one per
    line."""
    import yaml

    from creditline.decisions.policy import parse_policy

    section = scorecard_document(scorecard)
    lender = {
        "attributes": [a.model_dump(mode="json", exclude_defaults=True) for a in attributes or []]
    }
    if base is None:
        document: dict[str, Any] = {"scorecard": section} | (lender if attributes else {})
    else:
        try:
            document = yaml.safe_load(base.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
            raise InvalidInput(f"policy {base}: {str(error).splitlines()[0]}") from None
        if not isinstance(document, dict):
            raise InvalidInput(f"policy {base}: not a policy document")
        document = {**document, "scorecard": section, **lender}
        if not attributes:
            del document["attributes"]
        parse_policy(document)

    class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
        pass

    class _Flow(dict):  # type: ignore[type-arg]
        pass

    _Dumper.add_representer(
        _Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
    )
    _Dumper.add_representer(
        str,
        lambda d, data: d.represent_scalar(
            "tag:yaml.org,2002:str", data, style=">" if "\n" in data else None
        ),
    )
    for attribute in section["attributes"]:
        attribute["bins"] = [_Flow(b) for b in attribute["bins"]]
    development = section.get("development")
    if development:
        for part in ("score_bands", "attributes"):
            development[part] = [_Flow(item) for item in development[part]]
    body = str(yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100))
    return "".join(f"# {line}\n" for line in header.splitlines()) + body


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InvalidInput(_EXTRA) from None


def _fit_model(
    names: list[str], x: Any, y: Any, options: FitOptions, known: dict[str, Feature]
) -> Any:
    optbinning = _require("optbinning")
    linear_model = _require("sklearn.linear_model")
    categorical = [n for n in names if known[n].type in (FeatureType.CATEGORY, FeatureType.BOOLEAN)]
    trend = {Risk.HIGHER: "ascending", Risk.LOWER: "descending"}  # of the bad rate
    params = {
        n: {"monotonic_trend": trend[known[n].riskier]}  # type: ignore[index]
        for n in names
        if n not in categorical and known[n].riskier is not None
    }
    binning = optbinning.BinningProcess(
        names, categorical_variables=categorical, binning_fit_params=params
    )
    model = optbinning.Scorecard(
        binning_process=binning,
        estimator=linear_model.LogisticRegression(),
        scaling_method="pdo_odds",
        scaling_method_params={
            "pdo": options.pdo,
            "odds": options.odds,
            "scorecard_points": options.points,
        },
        intercept_based=True,
        rounding=True,
    )
    return model.fit(x, y)


def _quality(y: Any, score: Any) -> dict[str, float]:
    metrics = _require("sklearn.metrics")
    # A higher score is a better borrower, so the bad outcome ranks by the negated score.
    auc = float(metrics.roc_auc_score(y, -score))
    fpr, tpr, _ = metrics.roc_curve(y, -score)
    return {"auc": auc, "ks": float(max(tpr - fpr)), "gini": 2 * auc - 1}
