"""A scorecard fitted on the lender's own attributes, next to optbinning's and toad's.

Every column of modeldata's lending_club known at application time is registered as a lender
attribute (datasets/lending-club/attributes.toml; the data, attributes.csv, is rebuilt by
prepare.py beside it). `creditline fit` fits on them (monotonic bins in each attribute's risk
direction, an attribute whose points run against its reason left out), on the 70/30 stratified
split with seed 42; optbinning with its defaults and toad's chi-merge card (default stops, and
bins of at least 5 % of the rows) are fitted on the same training rows and the same columns.
Each model's test AUC and KS are printed, and creditline's over the better of the others
(target: at least 1x on both). Then the fitted policy is written, linted under its profile and
run: its in-process decisions score every test row as the fitted model does.

    .venv/bin/python bench/lender_attributes.py           # all 9,857 rows
    .venv/bin/python bench/lender_attributes.py --smoke   # a stratified 3,000, in seconds

toad comes with the bench extra (`make bench`); without it toad's rows say "not run" and the
rest runs. It is a report, not a test: it exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from scorecards import optbinning_card, quality, toad_card

from creditline.decisions.attributes import load_registry
from creditline.decisions.engine import Engine
from creditline.decisions.features import FeatureType
from creditline.decisions.fitting import FitOptions, fit, read_data, with_scorecard
from creditline.decisions.policy import load_policy

ROOT = Path(__file__).parents[1]
DATA = ROOT / "datasets" / "lending-club" / "attributes.csv"
REGISTRY = ROOT / "datasets" / "lending-club" / "attributes.toml"
BASE_POLICY = ROOT / "policies" / "us-fitted.yaml"  # the rest of the policy the card goes in
TARGET = "bad"
SMOKE_ROWS = 3_000
DEFAULTS = ("optbinning defaults", "toad chi-merge, default stops")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sample(x: Any, y: Any, rows: int, seed: int) -> tuple[Any, Any]:
    """`rows` of the data, stratified by the target."""
    from sklearn.model_selection import train_test_split

    x_kept, _, y_kept, _ = train_test_split(x, y, train_size=rows, stratify=y, random_state=seed)
    return x_kept, y_kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_ROWS:,} rows, in seconds")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="optbinning")
    warnings.filterwarnings("ignore", module="toad")
    from sklearn.model_selection import train_test_split

    options = FitOptions()
    registry = load_registry(REGISTRY)
    x, y = read_data(DATA, TARGET, registry=registry)
    if args.smoke:
        x, y = sample(x, y, SMOKE_ROWS, options.seed)
    columns = list(x.columns)
    print(
        f"data: {DATA.relative_to(ROOT)}, {len(y):,} rows, {int(y.sum()):,} bad; "
        f"{len(columns)} lender attributes registered in {REGISTRY.relative_to(ROOT)}; split "
        f"70/30 stratified, seed {options.seed}; AUC and KS of the bad outcome on the test part"
    )
    log("fitting creditline's scorecard on the lender's attributes …")
    began = time.perf_counter()
    fitted = fit(x, y, options, data_name=DATA.name, registry=registry)
    fit_seconds = time.perf_counter() - began
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=float(options.test_size), stratify=y, random_state=options.seed
    )
    scored = [a.feature for a in fitted.scorecard.attributes]
    features = {name: registry[name].feature() for name in columns}
    categorical = [
        n for n in columns if features[n].type in (FeatureType.CATEGORY, FeatureType.BOOLEAN)
    ]
    log("fitting optbinning's default card, and toad's, on the same rows and columns …")
    models: list[tuple[str, dict[str, float]]] = [
        (
            f"creditline fit ({len(scored)} scored, {len(fitted.report.left_out)} left out)",
            fitted.report.test,
        )
    ]
    optb = optbinning_card(x_train, y_train, categorical, options)
    models.append(("optbinning defaults", quality(y_test, optb.score(x_test))))
    try:
        import toad
    except ImportError as error:
        print(f"not run: toad's cards ({error}; pip install -e '.[bench]')")
        toad = None
    if toad is not None:
        for label, combine in (
            ("toad chi-merge, default stops", {}),
            ("toad chi-merge, bins >= 5 % of rows", {"min_samples": 0.05}),
        ):
            card = toad_card(toad, x_train, y_train, options, **combine)
            models.append((label, quality(y_test, card.predict(x_test))))
    print(f"  {'model, same ' + str(len(columns)) + ' columns':<46} {'test AUC':>8} {'test KS':>7}")
    for label, figures in models:
        print(f"  {label:<46} {figures['auc']:>8.4f} {figures['ks']:>7.4f}")
    ours = fitted.report.test
    # The target names optbinning's card and toad's, each with its defaults; every card above
    # is held up as well.
    named = [(label, figures) for label, figures in models if label in DEFAULTS]
    for against, cards in (("the named defaults", named), ("every card", models[1:])):
        best_auc = max(figures["auc"] for _, figures in cards)
        best_ks = max(figures["ks"] for _, figures in cards)
        met = ours["auc"] >= best_auc and ours["ks"] >= best_ks
        which = "; ".join(label for label, _ in cards)
        print(
            f"creditline / the best of {against} ({which}): AUC {ours['auc'] / best_auc:.3f}x, "
            f"KS {ours['ks'] / best_ks:.3f}x [{'MET' if met else 'MISSED'} >= 1x on both]"
        )
    print(f"creditline's fit: {fit_seconds:.1f} s")
    for why in fitted.report.left_out.values():
        print(f"  left out: {why}")

    log("writing the fitted policy, linting it and deciding the test rows with it …")
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "policy.yaml"
        out.write_text(
            with_scorecard(BASE_POLICY, fitted.scorecard, "bench", fitted.attributes),
            encoding="utf-8",
        )
        policy = load_policy(out)  # linted under its currency's profile: InvalidInput if not
    engine = Engine(policy)
    theirs = fitted.model.score(x_test[scored])
    ours_scores = [
        engine.decide(
            {"limit_minor": 100_000, **{k: None if v != v else v for k, v in row.items()}}
        ).score  # v != v: NaN, unknown
        for row in x_test[scored].to_dict(orient="records")
    ]
    differ = sum(int(a) != int(b) for a, b in zip(ours_scores, theirs, strict=True))
    print(
        f"fitted policy {policy.label}: lint clean, {len(policy.attributes)} lender attributes; "
        f"in-process scores equal optbinning's on {len(ours_scores) - differ:,} of "
        f"{len(ours_scores):,} test rows [{'MATCH' if differ == 0 else 'MISMATCH'}]"
    )
    print(f"\nCommand: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
