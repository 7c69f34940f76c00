"""What a jurisdiction profile allows a policy of its lines (EU-1, EU-2), for the policy lint.

A profile may list the data categories its policies may read to assess creditworthiness
(`data_categories`): a policy reading a feature of another category is refused
(`data_category_not_allowed`). It may list the reasons that justify blocking drawdowns
(`block_reasons`): a rule that freezes or suspends for another reason is refused
(`block_reason_not_justified`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from creditline.loans.products import Profile

if TYPE_CHECKING:
    from creditline.decisions.policy import PolicyDocument

# What every policy reads besides its scorecard and rules: the limit matrix's income bands, and
# the constraints' limit, use and cooldowns (`decisions/compiler.py`).
READ_BY_EVERY_POLICY = (
    "limit_minor",
    "used_minor",
    "income_monthly_minor",
    "days_since_limit_change",
    "days_since_cut",
)
BLOCKING_ACTIONS = ("freeze", "suspend")  # the rule actions that block drawdowns


def features_read(policy: PolicyDocument) -> dict[str, str]:
    """Every known feature the policy reads, each with the first place that reads it."""
    read = {name: "limit_matrix/constraints" for name in READ_BY_EVERY_POLICY}
    for attribute in policy.scorecard.attributes:
        read.setdefault(attribute.feature, f"scorecard.{attribute.feature}")
    for rule in policy.rules:
        try:
            parsed = sqlglot.parse_one(rule.when, dialect="duckdb")
        except sqlglot.errors.ParseError:
            continue  # the policy lint reports it
        for column in parsed.find_all(exp.Column):
            read.setdefault(column.name, f"rules.{rule.id}")
    return {name: where for name, where in read.items() if name in policy.features}


def features_outside_profile(policy: PolicyDocument, profile: Profile | None) -> dict[str, str]:
    """The features the policy reads whose data category `profile` does not allow (EU-1)."""
    if profile is None or profile.data_categories is None:
        return {}
    allowed = profile.data_categories
    return {
        name: where
        for name, where in features_read(policy).items()
        if policy.features[name].data_category not in allowed
    }


def lint_profile(policy: PolicyDocument, profile: Profile) -> list[str]:
    """Every feature the policy reads outside the profile's data categories, and every rule
    that blocks drawdowns for a reason outside the profile's justified reasons."""
    problems = []
    for name, where in features_outside_profile(policy, profile).items():
        category = policy.features[name].data_category.value
        problems.append(
            f"{where}: data_category_not_allowed: {name} is {category} data, which profile "
            f"{profile.code} does not allow for assessing creditworthiness"
        )
    if profile.block_reasons is not None:
        for rule in policy.rules:
            blocks = rule.action.value in BLOCKING_ACTIONS
            if blocks and rule.reason not in profile.block_reasons:
                problems.append(
                    f"rules.{rule.id}: block_reason_not_justified: profile {profile.code} "
                    f"blocks drawdowns only for {', '.join(sorted(profile.block_reasons))}"
                )
    return problems
