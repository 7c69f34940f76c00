"""A whole policy compiled to one SQL query over a `features` relation (DuckDB dialect).

The query scores every attribute (its bin and points), grades the score, finds the income band
and the matrix's target limit, evaluates every rule, picks the decisive rule by priority,
applies the constraints, and names the reasons: an adverse action's are those of the rules that
fired with that action (`_rule_reasons`). Every intermediate value is a column, so the
decision's trace is read from the same row. The one query decides a single line inside a
request and the whole book in batch, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from creditline.decisions.conditions import condition_sql
from creditline.decisions.features import FeatureType
from creditline.decisions.limit_steps import floor_to_step_sql
from creditline.decisions.policy import Bin, PolicyDocument, Rule, RuleAction, rule_expression
from creditline.kernel.money import AMOUNT_MINOR_MAX
from creditline.ledger.ports import RegulatoryCaps

REASONS_MAX = 4


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """The query, and the names of the trace columns it produces."""

    label: str
    ctes: str  # `scored AS (...), ...`: reads a relation named `features`
    select: str
    attributes: tuple[str, ...]  # features scored, in order: columns pts_<n>, bin_<n>
    rules: tuple[str, ...]  # rule ids, in priority order: columns fired_<n>

    @property
    def sql(self) -> str:
        """The query over a table or view named `features` (batch)."""
        return f"WITH {self.ctes} {self.select}"

    def sql_over(self, features: str) -> str:
        """The query over `features`, a SELECT that yields the features (one line)."""
        return f"WITH features AS ({features}), {self.ctes} {self.select}"


def _literal(value: Decimal | int | str) -> str:
    """`value` as a SQL literal (a string quoted, its quotes doubled; a decimal in positional
    notation, a DECIMAL: `1E+3` would be a DOUBLE)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return f"{value:f}" if isinstance(value, Decimal) else str(value)


def _bin_test(feature: str, kind: FeatureType, bin_: Bin) -> str:
    """SQL that is true when the feature's value falls in `bin_`."""
    if bin_.values is not None:
        values = (
            [v.upper() for v in bin_.values]  # TRUE / FALSE
            if kind is FeatureType.BOOLEAN
            else [_literal(v) for v in bin_.values]
        )
        return f"f.{feature} IN ({', '.join(values)})"
    tests = []
    if bin_.lower is not None:
        tests.append(f"f.{feature} >= {_literal(bin_.lower)}")
    if bin_.upper is not None:
        tests.append(f"f.{feature} < {_literal(bin_.upper)}")
    return " AND ".join(tests) or "TRUE"


def _rule_reasons(rules: list[Rule]) -> str:
    """SQL for the reasons of an adverse action (Reg B 1002.9(b)(2), US-3: the specific
    principal reasons for the action actually taken): the codes of the rules that fired with
    that action, by priority, each once, at most four. A rule of another action (a cut
    outranked by a freeze) did not decide it, and neither did the points the scorecard lost.

    A rule names its code unless an earlier rule of the same action and code fired, so the list
    needs no sorting and no lambda.
    """
    lists = []
    for n, rule in enumerate(rules):
        condition = f"action = {_literal(rule.action.value)} AND fired_{n}"
        earlier = [
            f"fired_{m}"
            for m, other in enumerate(rules[:n])
            if (other.action, other.reason) == (rule.action, rule.reason)
        ]
        if earlier:
            condition += f" AND NOT ({' OR '.join(earlier)})"
        lists.append(f"CASE WHEN {condition} THEN [{_literal(rule.reason)}] ELSE []::VARCHAR[] END")
    if not lists:
        return "[]::VARCHAR[]"
    return f"list_slice(list_concat({', '.join(lists)}), 1, {REASONS_MAX})"


def compile_policy(policy: PolicyDocument, caps: RegulatoryCaps | None = None) -> CompiledPolicy:
    """The policy as one query over a `features` relation, and the names of its trace columns;
    `caps` are the jurisdiction profile's caps on an increase (None: the policy's own only)."""
    rules = sorted(policy.rules, key=lambda r: r.priority)
    return CompiledPolicy(
        label=policy.label,
        ctes=_ctes(policy, rules, caps),
        select=_select(policy, rules),
        attributes=tuple(a.feature for a in policy.scorecard.attributes),
        rules=tuple(r.id for r in rules),
    )


def _scored_columns(policy: PolicyDocument, rules: list[Rule]) -> list[str]:
    """Each attribute's points and bin (pts_<n>, bin_<n>), then each rule's outcome (fired_<n>)."""
    scored: list[str] = []
    for n, attribute in enumerate(policy.scorecard.attributes):
        kind = policy.features[attribute.feature].type
        points = " ".join(
            f"WHEN {_bin_test(attribute.feature, kind, b)} THEN {b.points}" for b in attribute.bins
        )
        bins = " ".join(
            f"WHEN {_bin_test(attribute.feature, kind, b)} THEN {i}"
            for i, b in enumerate(attribute.bins)
        )
        missing = attribute.missing_points
        scored.append(
            f"CASE WHEN f.{attribute.feature} IS NULL THEN {missing} {points} "
            f"ELSE {missing} END AS pts_{n}"
        )
        scored.append(
            f"CASE WHEN f.{attribute.feature} IS NULL THEN -1 {bins} ELSE -1 END AS bin_{n}"
        )
    for n, rule in enumerate(rules):
        condition = condition_sql(rule_expression(rule, policy.features))
        scored.append(f"COALESCE(({condition}), FALSE) AS fired_{n}")
    return scored


def _grade_and_band(policy: PolicyDocument) -> tuple[str, str]:
    """The WHEN branches that grade a score and that find the income band (no fallback)."""
    grade = " ".join(
        f"WHEN score >= {g.min_score} THEN {_literal(g.grade)}"
        for g in policy.grades
        if g.min_score is not None
    )
    bands = policy.limit_matrix.income_bands
    # Unknown income falls in the lowest band.
    band = f"WHEN income_monthly_minor IS NULL THEN {_literal(bands[0].band)} " + " ".join(
        f"WHEN income_monthly_minor < {policy.minor(b.below)} THEN {_literal(b.band)}"
        for b in bands
        if b.below is not None
    )
    return grade, band


def _limit_cases(policy: PolicyDocument, rules: list[Rule]) -> tuple[str, str, str]:
    """The WHEN branches of the matrix's target limit, of the decisive rule's action, and of
    the limit each decrease rule cuts to."""
    constraints = policy.constraints
    step = policy.minor(constraints.limit_step)
    min_limit = policy.minor(constraints.min_limit)  # a cut never goes below it
    target = " ".join(
        f"WHEN grade = {_literal(g)} AND band = {_literal(b)} THEN {policy.minor(amount)}"
        for g, row in policy.limit_matrix.limits.items()
        for b, amount in row.items()
    )
    rule_action = " ".join(f"WHEN {_literal(r.id)} THEN {_literal(r.action.value)}" for r in rules)
    decrease_to = " ".join(
        f"WHEN {_literal(r.id)} THEN GREATEST(used_minor, {min_limit}, "
        f"{floor_to_step_sql('limit_minor', r.limit_factor, step)})"
        for r in rules
        if r.action is RuleAction.DECREASE and r.limit_factor is not None
    )
    return target, rule_action, decrease_to


def regulatory_cap_sql(caps: RegulatoryCaps | None) -> str:
    """The profile's lowest cap on a line's limit from its features (`limit_rules.cap_check`
    in SQL): never negative, never above the largest amount; NULL when the profile has none."""
    if caps is None:
        return "CAST(NULL AS BIGINT)"
    parts = [str(AMOUNT_MINOR_MAX)]
    if caps.limit_cap_minor is not None:
        parts.append(str(caps.limit_cap_minor))
    if caps.income_months is not None:
        parts.append(f"COALESCE(income_monthly_minor, 0) * {caps.income_months}")
    if caps.unverified_limit_max_minor is not None:
        unverified = caps.unverified_limit_max_minor
        parts.append(f"CASE WHEN income_evidence IS TRUE THEN NULL ELSE {unverified} END")
    if caps.debt_to_income_max_percent is not None:
        room = (
            f"GREATEST(GREATEST(income_monthly_minor, 0) * {caps.debt_to_income_max_percent} "
            "// 100 - obligations_monthly_minor, 0)"
        )
        parts.append(
            "CASE WHEN income_monthly_minor IS NULL OR obligations_monthly_minor IS NULL THEN 0 "
            f"ELSE CAST({room} AS HUGEINT) * {caps.payment_basis_minor} // {caps.payment_minor} "
            "END"
        )
    return f"CAST(GREATEST(LEAST({', '.join(parts)}), 0) AS BIGINT)"


def _policy_increase(policy: PolicyDocument) -> str:
    """The increase the policy alone allows: the matrix's target, its largest limit, and the
    increase factor, on the step."""
    constraints = policy.constraints
    step = policy.minor(constraints.limit_step)
    grown = floor_to_step_sql("limit_minor", constraints.max_increase_factor, step)
    return f"LEAST(target_minor, {policy.minor(constraints.max_limit)}, {grown})"


def _increase(policy: PolicyDocument) -> tuple[str, str]:
    """The capped increase a line could get (the policy's, held under the regulatory cap on
    the step), and whether the cool-downs allow one now."""
    constraints = policy.constraints
    step = policy.minor(constraints.limit_step)
    capped_increase = f"LEAST({_policy_increase(policy)}, regulatory_cap_minor // {step} * {step})"
    may_increase = (
        f"(days_since_limit_change IS NULL OR days_since_limit_change >= "
        f"{constraints.cooldown_days}) AND (days_since_cut IS NULL OR days_since_cut >= "
        f"{constraints.no_increase_after_cut_days})"
    )
    return capped_increase, may_increase


def _ctes(policy: PolicyDocument, rules: list[Rule], caps: RegulatoryCaps | None) -> str:
    """The query's common table expressions, from the scored features to the action."""
    card = policy.scorecard
    scored = _scored_columns(policy, rules)
    score = " + ".join([str(card.base_points)] + [f"pts_{n}" for n in range(len(card.attributes))])
    grade, band = _grade_and_band(policy)
    lowest_grade = _literal(policy.grades[-1].grade)
    highest_band = _literal(policy.limit_matrix.income_bands[-1].band)
    decisive = " ".join(f"WHEN fired_{n} THEN {_literal(r.id)}" for n, r in enumerate(rules))
    target, rule_action, decrease_to = _limit_cases(policy, rules)
    capped_increase, may_increase = _increase(policy)
    return f"""
scored AS (
    SELECT f.*, {", ".join(scored) if scored else "NULL AS none"}
    FROM features f
), graded AS (
    SELECT *, {score} AS score,
        CASE {band + " " if band else ""}WHEN TRUE THEN {highest_band} END AS band
    FROM scored
), targeted AS (
    SELECT *,
        CASE {grade + " " if grade else ""}WHEN TRUE THEN {lowest_grade} END AS grade,
        {"CASE " + decisive + " END" if rules else "CAST(NULL AS VARCHAR)"} AS decisive_rule
    FROM graded
), limited AS (
    SELECT *,
        CASE {target} END AS target_minor,
        {regulatory_cap_sql(caps)} AS regulatory_cap_minor,
        {"CASE decisive_rule " + rule_action + " END" if rules else "CAST(NULL AS VARCHAR)"}
            AS rule_action
    FROM targeted
), decided AS (
    SELECT *,
        CASE
            -- One cut per cool-down: a stale input must not cut the line again every day.
            WHEN rule_action = 'decrease' AND days_since_cut < {policy.constraints.cooldown_days}
                THEN limit_minor
            WHEN rule_action = 'decrease' THEN
                CASE decisive_rule {decrease_to or "WHEN NULL THEN NULL"} END
            WHEN rule_action IS NULL AND {capped_increase} > limit_minor AND {may_increase}
                THEN {capped_increase}
            ELSE limit_minor
        END AS proposed_minor
    FROM limited
), acted AS (
    SELECT *,
        CASE
            WHEN rule_action = 'decrease' AND proposed_minor >= limit_minor THEN 'keep'
            WHEN rule_action IS NOT NULL THEN rule_action
            WHEN proposed_minor > limit_minor THEN 'increase'
            ELSE 'keep'
        END AS action
    FROM decided
)"""


def _select(policy: PolicyDocument, rules: list[Rule]) -> str:
    """The query's final SELECT: the new limit, the freeze's days and the reason codes."""
    freeze_days = " ".join(
        f"WHEN {_literal(r.id)} THEN {r.freeze_days}" for r in rules if r.freeze_days is not None
    )
    increase_reason = _literal(policy.constraints.increase_reason)
    # An increase held below what the policy alone would give was held by a regulatory cap.
    uncapped_increase = _policy_increase(policy)
    # Built only for adverse rows (CASE evaluates a branch only for the rows that take it).
    adverse_reasons = _rule_reasons(rules)
    return f"""
SELECT *,
    CASE WHEN action IN ('increase', 'decrease') THEN proposed_minor ELSE limit_minor END
        AS new_limit_minor,
    {"CASE decisive_rule " + freeze_days + " END" if freeze_days else "CAST(NULL AS INTEGER)"}
        AS freeze_days_out,
    CASE
        WHEN action = 'increase' AND proposed_minor < {uncapped_increase}
            THEN [{increase_reason}, 'regulatory_cap']
        WHEN action = 'increase' THEN [{increase_reason}]
        WHEN action = 'keep' THEN []::VARCHAR[]
        ELSE {adverse_reasons}
    END AS reason_codes
FROM acted
"""
