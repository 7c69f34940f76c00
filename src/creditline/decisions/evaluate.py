"""One line decided in-process, with the semantics of the compiled SQL query.

DuckDB runs the compiled policy over a whole book at millions of rows a second, but a query
costs it milliseconds however small its input; a decision inside a request must take well
under one. So one line is evaluated here, from the same parsed policy, step for step as the
query does it: SQL's three-valued logic for rules (an unknown feature makes a comparison
unknown, and an unknown rule does not fire) at each node's SQL type (`condition_eval`), the
same exact rounding of limits to the step, the same ordering of reasons. The tests hold the
in-process evaluator, DuckDB and Spark to identical results on every rule the grammar can
express (`test_evaluators_agree`) and on tens of thousands of random rows.

An application's decline is decided here only (applications are decided one at a time), and so
are its reasons: those of the rules that fired, or, when the score decided, the attributes that
cost it points (`Evaluator.decline_reasons`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from creditline.decisions.compiler import REASONS_MAX
from creditline.decisions.condition_eval import compiled_condition
from creditline.decisions.features import FeatureType
from creditline.decisions.limit_steps import floor_to_step
from creditline.decisions.policy import Bin, PolicyDocument, RuleAction, rule_expression
from creditline.kernel.money import AMOUNT_MINOR_MAX
from creditline.ledger.ports import Capacity, CapCheck, RegulatoryCaps, cap_check

Value = Any  # None (SQL NULL), bool, int, float, Decimal or str

# The limit matrix's income band is not a scorecard attribute, so it names no reason of its
# own: when it alone holds a first limit below the minimum, this is the reason.
INCOME_BAND_REASON = "income_insufficient"


class Evaluator:
    """A policy prepared for row-at-a-time evaluation (rules parsed once)."""

    def __init__(self, policy: PolicyDocument, caps: RegulatoryCaps | None = None) -> None:
        self.policy = policy
        self.caps = caps
        self.rules = sorted(policy.rules, key=lambda r: r.priority)
        features = policy.features
        self._conditions = [
            compiled_condition(rule_expression(rule, features), features) for rule in self.rules
        ]
        self._step = policy.minor(policy.constraints.limit_step)
        self._max_limit = policy.minor(policy.constraints.max_limit)
        self._min_limit = policy.minor(policy.constraints.min_limit)
        self._bands = [
            (b.band, None if b.below is None else policy.minor(b.below))
            for b in policy.limit_matrix.income_bands
        ]
        self._limits = {
            (grade, band): policy.minor(amount)
            for grade, row in policy.limit_matrix.limits.items()
            for band, amount in row.items()
        }
        self._best = [max(b.points for b in a.bins) for a in policy.scorecard.attributes]
        self._by_attribute: dict[str, list[int]] = {}  # each code's attributes, in order
        for n, attribute in enumerate(policy.scorecard.attributes):
            self._by_attribute.setdefault(attribute.reason, []).append(n)

    def row(self, features: dict[str, Value]) -> dict[str, Value]:
        """The compiled query's output row for one line's features."""
        out: dict[str, Value] = dict(features)
        card = self.policy.scorecard
        features_read = self.policy.features
        for n, attribute in enumerate(card.attributes):
            kind = features_read[attribute.feature].type
            value = features.get(attribute.feature)
            if kind is FeatureType.NUMBER and value is not None:
                value = float(value)  # a ratio is a DOUBLE, even when given as an integer
            points, index = attribute.missing_points, -1
            if value is not None:
                for bin_index, bin_ in enumerate(attribute.bins):
                    if _in_bin(value, kind, bin_):
                        points, index = bin_.points, bin_index
                        break
            out[f"pts_{n}"], out[f"bin_{n}"] = points, index
        for n, condition in enumerate(self._conditions):
            out[f"fired_{n}"] = condition(features) is True
        score = card.base_points + sum(out[f"pts_{n}"] for n in range(len(card.attributes)))
        grade = self._grade(score)
        band = self._band(features.get("income_monthly_minor"))
        decisive = next((rule for n, rule in enumerate(self.rules) if out[f"fired_{n}"]), None)
        limit = features["limit_minor"]
        target = self._limits[(grade, band)]
        regulatory_cap = self._regulatory_cap(features)
        proposed = self._proposed(features, decisive, limit, target, regulatory_cap)
        action = self._action(decisive, limit, proposed)
        out.update(
            score=score,
            grade=grade,
            band=band,
            target_minor=target,
            regulatory_cap_minor=regulatory_cap,
            decisive_rule=None if decisive is None else decisive.id,
            rule_action=None if decisive is None else decisive.action.value,
            proposed_minor=proposed,
            action=action,
            new_limit_minor=proposed if action in ("increase", "decrease") else limit,
            freeze_days_out=None if decisive is None else decisive.freeze_days,
            reason_codes=self._reasons(out, action),
        )
        if action == "increase" and proposed < self._policy_increase(limit, target):
            out["reason_codes"] = [*out["reason_codes"], "regulatory_cap"]
        return out

    def cap_check(self, features: dict[str, Value]) -> CapCheck | None:
        """The profile's caps on a line with these features (None: no profile caps)."""
        if self.caps is None:
            return None
        obligations = features.get("obligations_monthly_minor")
        capacity = Capacity(
            income_monthly_minor=features.get("income_monthly_minor"),
            income_evidence=features.get("income_evidence") is True,
            obligations_monthly_minor=obligations,
            obligations_source=None if obligations is None else "features",
        )
        return cap_check(self.caps, capacity)

    def _regulatory_cap(self, features: dict[str, Value]) -> int | None:
        """The profile's lowest cap from the features (`compiler.regulatory_cap_sql`)."""
        check = self.cap_check(features)
        if check is None:
            return None
        cap = check.cap_minor
        return AMOUNT_MINOR_MAX if cap is None else max(min(cap, AMOUNT_MINOR_MAX), 0)

    def _policy_increase(self, limit: int, target: int) -> int:
        grown = floor_to_step(limit, self.policy.constraints.max_increase_factor, self._step)
        return min(target, self._max_limit, grown)

    def decline_reasons(self, row: dict[str, Value]) -> list[str]:
        """The specific principal reasons for declining an application decided by `row`
        (Reg B 1002.9(b)(2), US-3; CFPB Circulars 2022-03 and 2023-03), 1–4 codes.

        Any fired rule declines an application, so a rule's decline names the rules that fired,
        by priority, each code once, and nothing else. Otherwise the limit matrix declined (its
        first limit is below the policy's minimum). When restoring every point the known values
        lost would have granted at least the minimum, the score decided: the reasons are the
        attributes that lost points, ranked by the points they cost (a code shared by
        attributes counts its largest loss; ties in scorecard order; an unknown value, in no
        bin, loses nothing), and restoring each moves the score toward the grade that approves.
        When even that would not, the income band held the limit down: `income_insufficient`.
        """
        fired = self._rule_reasons(row, None)
        if fired:
            return fired
        losses = [
            self._best[n] - row[f"pts_{n}"] if row[f"bin_{n}"] >= 0 else 0
            for n in range(len(self._best))
        ]
        restored = self._limits[(self._grade(row["score"] + sum(losses)), row["band"])]
        if self._first_limit(restored) < self._min_limit:
            return [INCOME_BAND_REASON]
        ranked = sorted(
            (
                (max(losses[n] for n in attributes), -position, code)
                for position, (code, attributes) in enumerate(self._by_attribute.items())
            ),
            reverse=True,
        )
        return [code for loss, _, code in ranked if loss > 0][:REASONS_MAX]

    def _grade(self, score: int) -> str:
        return next(
            (
                g.grade
                for g in self.policy.grades
                if g.min_score is not None and score >= g.min_score
            ),
            self.policy.grades[-1].grade,
        )

    def _first_limit(self, target: int) -> int:
        """The limit an application opens at, as underwriting grants it: the matrix's target
        within the maximum, rounded down to the step."""
        return floor_to_step(min(target, self._max_limit), Decimal(1), self._step)

    def _band(self, income: Value) -> str:
        if income is None:
            return self._bands[0][0]  # unknown income: the lowest band
        for band, below in self._bands:
            if below is None or income < below:
                return band
        return self._bands[-1][0]

    def _proposed(
        self,
        features: dict[str, Value],
        decisive: Any,
        limit: int,
        target: int,
        regulatory_cap: int | None,
    ) -> int:
        constraints = self.policy.constraints
        if decisive is not None and decisive.action is RuleAction.DECREASE:
            since_cut = features.get("days_since_cut")
            if since_cut is not None and since_cut < constraints.cooldown_days:
                return limit  # one cut per cool-down
            cut = max(floor_to_step(limit, decisive.limit_factor, self._step), self._min_limit)
            used = features.get("used_minor")
            return cut if used is None else max(int(used), cut)
        if decisive is None:
            capped = self._policy_increase(limit, target)
            if regulatory_cap is not None:
                capped = min(capped, floor_to_step(regulatory_cap, Decimal(1), self._step))
            changed = features.get("days_since_limit_change")
            since_cut = features.get("days_since_cut")
            may = (changed is None or changed >= constraints.cooldown_days) and (
                since_cut is None or since_cut >= constraints.no_increase_after_cut_days
            )
            if capped > limit and may:
                return capped
        return limit

    @staticmethod
    def _action(decisive: Any, limit: int, proposed: int) -> str:
        if decisive is not None:
            if decisive.action is RuleAction.DECREASE and proposed >= limit:
                return "keep"
            return str(decisive.action.value)
        return "increase" if proposed > limit else "keep"

    def _reasons(self, out: dict[str, Value], action: str) -> list[str]:
        """The reasons of a review's `action` (Reg B 1002.9(b)(2), US-3: the specific principal
        reasons for the action actually taken).

        An increase names the policy's increase reason and a keep none. An adverse action is
        decided by a rule, so it names the rules that fired with that action, by priority: a
        rule of another action (a cut outranked by a freeze) did not decide it, and neither
        did the points the scorecard lost.
        """
        if action == "increase":
            return [self.policy.constraints.increase_reason]
        if action == "keep":
            return []
        return self._rule_reasons(out, action)

    def _rule_reasons(self, out: dict[str, Value], action: str | None) -> list[str]:
        """The codes of the rules that fired (with `action`, or any), by priority, each once."""
        codes: list[str] = []
        for n, rule in enumerate(self.rules):
            if (
                out[f"fired_{n}"]
                and action in (None, rule.action.value)
                and rule.reason not in codes
            ):
                codes.append(rule.reason)
        return codes[:REASONS_MAX]


def _in_bin(value: Value, kind: FeatureType, bin_: Bin) -> bool:
    """Whether a known `value` falls in `bin_`, as the compiled query tests it."""
    if bin_.values is not None:
        if kind is FeatureType.BOOLEAN:
            return ("true" if value else "false") in bin_.values
        return value in bin_.values
    lower = None if bin_.lower is None else _same_kind(value, bin_.lower)
    upper = None if bin_.upper is None else _same_kind(value, bin_.upper)
    return (lower is None or value >= lower) and (upper is None or value < upper)


def _same_kind(value: Value, bound: Decimal) -> Value:
    """A DOUBLE compares with a DECIMAL literal as a DOUBLE (correctly rounded), as SQL does."""
    return float(bound) if isinstance(value, float) else bound
