"""What the benches that fit scorecards share: the quality measures, and optbinning's and toad's
cards with their defaults, scaled as creditline's fit scales its own."""

from __future__ import annotations

from typing import Any

from creditline.decisions.fitting import FitOptions


def quality(y: Any, score: Any) -> dict[str, float]:
    """AUC and KS of the bad outcome (1) ranked by the negated score (higher = better)."""
    from sklearn import metrics

    fpr, tpr, _ = metrics.roc_curve(y, -score)
    return {"auc": float(metrics.roc_auc_score(y, -score)), "ks": float(max(tpr - fpr))}


def optbinning_card(x_train: Any, y_train: Any, categorical: list[str], options: FitOptions) -> Any:
    """optbinning's card with its defaults on every column of `x_train`, scaled as `options`."""
    import optbinning
    from sklearn.linear_model import LogisticRegression

    card = optbinning.Scorecard(
        binning_process=optbinning.BinningProcess(
            list(x_train.columns), categorical_variables=categorical
        ),
        estimator=LogisticRegression(),
        scaling_method="pdo_odds",
        scaling_method_params={
            "pdo": options.pdo,
            "odds": options.odds,
            "scorecard_points": options.points,
        },
    )
    return card.fit(x_train, y_train)


def toad_card(toad: Any, x_train: Any, y_train: Any, options: FitOptions, **combine: Any) -> Any:
    """toad's card: chi-merge bins (`combine`: toad's stops), WoE, logistic regression. toad
    scales the good:bad odds ((1 - p) / p, p the probability of y = 1, the bad outcome):
    base_score points at base_odds, pdo points to double them, as `options`."""
    combiner = toad.transform.Combiner().fit(x_train, y_train, method="chi", **combine)
    transer = toad.transform.WOETransformer()
    woe = transer.fit_transform(combiner.transform(x_train), y_train)
    card = toad.ScoreCard(
        combiner=combiner,
        transer=transer,
        base_score=options.points,
        base_odds=options.odds,
        pdo=options.pdo,
    )
    return card.fit(woe, y_train)
