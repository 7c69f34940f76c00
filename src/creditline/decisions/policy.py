"""A credit policy as data: scorecard, grades, limit matrix, rules and constraints.

Policies are YAML documents validated here (pydantic) and linted (`lint`): unknown features,
unknown or generic reason codes, rules without a reason, arbitrary SQL in a rule (anything but
comparisons, boolean logic, arithmetic and a few allow-listed functions over known features:
`creditline.decisions.conditions`), and rules no row can reach are refused with one message
per problem.

A policy decides the lines of its currency, so it runs under the jurisdiction profile of that
currency (`Catalogue.profile_for`, as every service finds a line's profile). The lint holds it
to that profile too: a feature whose data category the profile does not allow
(`data_category_not_allowed`, EU-1), and a rule that blocks drawdowns for a reason the profile
does not count as justified (`block_reason_not_justified`, EU-2), are problems
(`decisions/profile_lint.py`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlglot
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)
from sqlglot import exp

from creditline.decisions.attributes import (
    LenderAttribute,
    Registry,
    features_with,
    registry_problems,
)
from creditline.decisions.conditions import checked_condition, condition_problems, unwrapped
from creditline.decisions.development import Development, development_problems
from creditline.decisions.features import FEATURES, Feature, FeatureType, Risk
from creditline.decisions.guardrails import Guardrails
from creditline.decisions.limit_steps import factor_problems
from creditline.decisions.profile_lint import features_outside_profile, lint_profile
from creditline.kernel.errors import DataCategoryNotAllowed, InvalidInput, ProductNotFound
from creditline.kernel.money import Money
from creditline.kernel.reasons import REASON_CATALOGUE, is_generic
from creditline.loans.products import Catalogue, Profile, load_catalogue


class RuleAction(StrEnum):
    """What a rule that fires does to the line."""

    FREEZE = "freeze"
    SUSPEND = "suspend"
    DECREASE = "decrease"
    CLOSE = "close"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Points = StrictInt


class Bin(_Strict):
    """A numeric bin [lower, upper) (an open end is null), or a set of category values."""

    lower: Decimal | None = None
    upper: Decimal | None = None
    values: list[StrictStr] | None = None
    points: Points


class Attribute(_Strict):
    feature: StrictStr
    reason: StrictStr  # the adverse reason named when this attribute costs points
    bins: list[Bin] = Field(min_length=1)
    missing_points: Points = 0


class Scorecard(_Strict):
    base_points: Points
    pdo: Annotated[Decimal, Field(gt=0)] = Decimal(20)  # points to double the odds
    base_odds: Annotated[Decimal, Field(gt=0)] = Decimal(50)  # good:bad odds at base_points
    attributes: list[Attribute] = Field(min_length=1)
    development: Development | None = None  # a fitted card's sample, for monitoring (0021)


class Grade(_Strict):
    grade: StrictStr = Field(min_length=1, max_length=8)
    min_score: StrictInt | None = None  # null: every score below the grades above


class IncomeBand(_Strict):
    band: StrictStr
    below: StrictStr | None = None  # monthly income, a decimal in the policy's currency


class LimitMatrix(_Strict):
    income_bands: list[IncomeBand] = Field(min_length=1)
    limits: dict[StrictStr, dict[StrictStr, StrictStr]]  # grade -> band -> limit


class Rule(_Strict):
    id: StrictStr = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    when: StrictStr
    action: RuleAction
    reason: StrictStr
    priority: StrictInt
    freeze_days: Annotated[StrictInt, Field(ge=1, le=366)] | None = None
    limit_factor: Annotated[Decimal, Field(gt=0, lt=1)] | None = None


class Constraints(_Strict):
    max_limit: StrictStr  # the jurisdiction's cap (CN-1, CN-2)
    min_limit: StrictStr
    limit_step: StrictStr = "100.00"  # limits are whole multiples of this
    max_increase_factor: Annotated[Decimal, Field(gt=1)]
    cooldown_days: Annotated[StrictInt, Field(ge=0)]
    no_increase_after_cut_days: Annotated[StrictInt, Field(ge=0)]
    increase_reason: StrictStr = "good_repayment_history"


class PolicyDocument(_Strict):
    id: StrictStr = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    version: StrictStr = Field(min_length=1, max_length=64)
    currency: StrictStr
    timezone: StrictStr = "UTC"  # where the lender does business: it dates reviews and ages
    description: StrictStr = ""
    scorecard: Scorecard
    grades: list[Grade] = Field(min_length=1)
    limit_matrix: LimitMatrix
    rules: list[Rule] = Field(default_factory=list)
    constraints: Constraints
    guardrails: Guardrails | None = None  # None: the defaults
    # The lender's own attributes it reads, as registered (docs/decisions/0022).
    attributes: list[LenderAttribute] = Field(default_factory=list)

    @property
    def features(self) -> Mapping[str, Feature]:
        """What the policy may read: creditline's features and its lender attributes."""
        return features_with(self.attributes)

    @property
    def label(self) -> str:
        """How decisions name the policy: id@version."""
        return f"{self.id}@{self.version}"

    def minor(self, text: str) -> int:
        """An amount of the policy's currency, written as a decimal, in minor units."""
        return Money.parse(text, self.currency).minor

    def business_date(self, at: datetime) -> date:
        """The lender's calendar date at the instant `at`."""
        return at.astimezone(ZoneInfo(self.timezone)).date()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


def check_policy(
    document: object, catalogue: Catalogue | None = None, registry: Registry | None = None
) -> tuple[PolicyDocument | None, list[str]]:
    """The policy (None if it does not even validate) and every problem found in it, under the
    profile of its currency in `catalogue` (default: the catalogue shipped with creditline) and,
    when given, the deployment's `registry` of lender attributes."""
    try:
        policy = PolicyDocument.model_validate(document)
    except ValidationError as error:
        return None, [
            f"{'.'.join(str(part) for part in e['loc']) or 'policy'}: {e['msg']}"
            for e in error.errors()
        ]
    problems = lint(policy, profile_of(policy, catalogue))
    if registry is not None:
        problems += registry_problems(policy.attributes, registry)
    return policy, problems


def parse_policy(document: object, catalogue: Catalogue | None = None) -> PolicyDocument:
    """A validated and linted policy; `InvalidInput` lists every problem found
    (`DataCategoryNotAllowed` when one of them is data its profile does not allow)."""
    policy, problems = check_policy(document, catalogue)
    if policy is None or problems:
        outside = policy is not None and features_outside_profile(
            policy, profile_of(policy, catalogue)
        )
        error = DataCategoryNotAllowed if outside else InvalidInput
        raise error("policy: " + "; ".join(problems), problems=problems)
    return policy


def load_policy(path: Path, catalogue: Catalogue | None = None) -> PolicyDocument:
    """The policy in the YAML file at `path`, validated and linted (see `parse_policy`)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise InvalidInput(f"policy {path}: {error}") from None
    return parse_policy(document, catalogue)


def profile_of(policy: PolicyDocument, catalogue: Catalogue | None = None) -> Profile | None:
    """The jurisdiction profile the policy's lines run under: its currency's (None for a
    currency no product lends in)."""
    try:
        return (catalogue or load_catalogue()).profile_for(policy.currency)
    except ProductNotFound:
        return None


def lint(policy: PolicyDocument, profile: Profile | None = None) -> list[str]:
    """Every problem in a structurally valid policy, as readable messages (empty: clean);
    with `profile`, also what that jurisdiction profile does not allow."""
    problems: list[str] = []
    problems += [p for attribute in policy.attributes for p in attribute.problems()]
    problems += _lint_money(policy)
    problems += _lint_scorecard(policy)
    problems += _lint_grades_and_matrix(policy)
    problems += _lint_rules(policy)
    problems += factor_problems(
        "constraints.max_increase_factor", policy.constraints.max_increase_factor
    )
    problems += _lint_reason(policy.constraints.increase_reason, "constraints", adverse=False)
    if profile is not None:
        problems += lint_profile(policy, profile)
    return problems


def rule_expression(rule: Rule, features: Mapping[str, Feature] = FEATURES) -> exp.Expression:
    """The rule's condition over `features`, parsed; `InvalidInput` if it is not an allowed
    expression."""
    parsed, problems = checked_condition(f"rules.{rule.id}", rule.when, features)
    if parsed is None or problems:
        raise InvalidInput(problems[0])
    return parsed


def _lint_money(policy: PolicyDocument) -> list[str]:
    texts = [
        ("constraints.max_limit", policy.constraints.max_limit),
        ("constraints.min_limit", policy.constraints.min_limit),
        ("constraints.limit_step", policy.constraints.limit_step),
    ]
    texts += [
        (f"limit_matrix.income_bands.{b.band}", b.below)
        for b in policy.limit_matrix.income_bands
        if b.below is not None
    ]
    texts += [
        (f"limit_matrix.limits.{grade}.{band}", amount)
        for grade, row in policy.limit_matrix.limits.items()
        for band, amount in row.items()
    ]
    problems = []
    for where, text in texts:
        try:
            if Money.parse(text, policy.currency).minor < 0:
                problems.append(f"{where}: an amount cannot be negative")
        except InvalidInput as error:
            problems.append(f"{where}: {error.message}")
    if not problems and policy.minor(policy.constraints.limit_step) <= 0:
        problems.append("constraints.limit_step: must be positive")
    constraints = policy.constraints
    if not problems and policy.minor(constraints.min_limit) > policy.minor(constraints.max_limit):
        problems.append("constraints.min_limit: must not be above max_limit")
    return problems


def _lint_reason(code: str, where: str, *, adverse: bool) -> list[str]:
    reason = REASON_CATALOGUE.get(code)
    if reason is None:
        return [f"{where}: unknown reason code {code!r}"]
    if is_generic(code):
        return [f"{where}: reason code {code!r} is generic; name the factor"]
    if reason.adverse != adverse:
        direction = "an adverse" if adverse else "a favourable"
        return [f"{where}: reason code {code!r} cannot explain {direction} decision"]
    return []


def _lint_scorecard(policy: PolicyDocument) -> list[str]:
    card = policy.scorecard
    bins = {a.feature: len(a.bins) for a in card.attributes}
    problems = development_problems(card.development, bins) if card.development else []
    seen: set[str] = set()
    for attribute in policy.scorecard.attributes:
        where = f"scorecard.{attribute.feature}"
        feature = policy.features.get(attribute.feature)
        if feature is None:
            problems.append(f"{where}: unknown feature")
            continue
        if attribute.feature in seen:
            problems.append(f"{where}: the feature is scored twice")
        seen.add(attribute.feature)
        problems += _lint_reason(attribute.reason, where, adverse=True)
        categorical = feature.type in (FeatureType.CATEGORY, FeatureType.BOOLEAN)
        shape: list[str] = []
        for n, bin_ in enumerate(attribute.bins):
            if categorical != (bin_.values is not None) or (
                bin_.values and (bin_.lower, bin_.upper) != (None, None)
            ):
                kind = "values" if categorical else "lower/upper"
                shape.append(f"{where}.bins[{n}]: a {feature.type.value} feature bins by {kind}")
            known = feature.categories or (
                ("true", "false") if feature.type is FeatureType.BOOLEAN else ()
            )
            for value in bin_.values or []:
                if value not in known:
                    shape.append(f"{where}.bins[{n}]: unknown value {value!r}")
        if not categorical and not shape:
            shape += _lint_intervals(where, attribute.bins) or _lint_direction(
                where, attribute, feature.riskier
            )
        problems += shape
    return problems


def _lint_intervals(where: str, bins: list[Bin]) -> list[str]:
    """Numeric bins must tile the line: first open below, last open above, no gaps."""
    if bins[0].lower is not None or bins[-1].upper is not None:
        return [f"{where}: the first bin must be open below and the last open above"]
    for left, right in itertools.pairwise(bins):
        if left.upper is None or right.lower != left.upper:
            return [f"{where}: bins must be in order and meet exactly (upper = next lower)"]
    for n, bin_ in enumerate(bins):
        if bin_.lower is not None and bin_.upper is not None and not bin_.lower < bin_.upper:
            return [f"{where}.bins[{n}]: an empty bin (lower must be below upper)"]
    return []


def _lint_direction(where: str, attribute: Attribute, riskier: Risk | None) -> list[str]:
    """Points may only fall the way the feature's risk runs, or the reason would mislead."""
    points = [b.points for b in attribute.bins]
    if riskier is Risk.LOWER:
        points.reverse()
    if riskier is not None and any(a < b for a, b in itertools.pairwise(points)):
        way = "higher" if riskier is Risk.HIGHER else "lower"
        return [f"{where}: points must not rise as the value gets {way} (riskier)"]
    return []


def _lint_grades_and_matrix(policy: PolicyDocument) -> list[str]:
    problems = []
    scores = [g.min_score for g in policy.grades]
    if scores[-1] is not None or any(s is None for s in scores[:-1]):
        problems.append("grades: every grade but the last needs min_score; the last takes the rest")
    elif any(a <= b for a, b in itertools.pairwise(scores[:-1])):  # type: ignore[operator]
        problems.append("grades: min_score must fall from the first grade to the last")
    bands = [b.band for b in policy.limit_matrix.income_bands]
    try:
        belows = [policy.minor(b.below) for b in policy.limit_matrix.income_bands if b.below]
    except InvalidInput:
        belows = []  # reported by _lint_money
    if any(a >= b for a, b in itertools.pairwise(belows)):
        problems.append("limit_matrix.income_bands: each band's `below` must rise")
    if policy.limit_matrix.income_bands[-1].below is not None:
        problems.append("limit_matrix.income_bands: the last band takes the rest (no `below`)")
    grades = [g.grade for g in policy.grades]
    if sorted(policy.limit_matrix.limits) != sorted(grades):
        problems.append("limit_matrix.limits: one row per grade, no more")
    for grade, row in policy.limit_matrix.limits.items():
        if sorted(row) != sorted(bands):
            problems.append(f"limit_matrix.limits.{grade}: one limit per income band, no more")
    return problems


def _lint_rules(policy: PolicyDocument) -> list[str]:
    problems = []
    ids = [r.id for r in policy.rules]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"rules.{duplicate}: duplicate rule id")
    priorities = [r.priority for r in policy.rules]
    if len(set(priorities)) != len(priorities):
        problems.append("rules: priorities must be distinct (they order the rules)")
    for rule in policy.rules:
        where = f"rules.{rule.id}"
        problems += _lint_reason(rule.reason, where, adverse=True)
        if (rule.action is RuleAction.FREEZE) != (rule.freeze_days is not None):
            problems.append(f"{where}: freeze_days goes with a freeze, and only with it")
        if (rule.action is RuleAction.DECREASE) != (rule.limit_factor is not None):
            problems.append(f"{where}: limit_factor goes with a decrease, and only with it")
        problems += condition_problems(where, rule.when, policy.features)
        problems += factor_problems(f"{where}.limit_factor", rule.limit_factor)
    problems += _lint_unreachable(policy)
    return problems


def _lint_unreachable(policy: PolicyDocument) -> list[str]:
    """A rule whose condition is the same as a higher-priority rule's never decides anything."""
    problems = []
    ordered = sorted(policy.rules, key=lambda r: r.priority)
    seen: dict[str, str] = {}
    for rule in ordered:
        try:
            parsed = unwrapped(sqlglot.parse_one(rule.when, dialect="duckdb"))
            key = parsed.sql(normalize=True, comments=False)
        except sqlglot.errors.ParseError:
            continue
        if key in seen:
            problems.append(
                f"rules.{rule.id}: unreachable: rule {seen[key]} has the same condition and a "
                "higher priority"
            )
        if key.upper() in ("FALSE", "(FALSE)"):
            problems.append(f"rules.{rule.id}: unreachable: its condition is never true")
        seen.setdefault(key, rule.id)
    return problems


def document_of(policy: PolicyDocument) -> dict[str, Any]:
    """The policy as plain data (what is stored and hashed); without guardrails or a
    development sample when it has none, as written before they existed (its fingerprint
    unchanged)."""
    left_out: dict[str, Any] = {}
    if not policy.guardrails:
        left_out["guardrails"] = True
    if policy.scorecard.development is None:
        left_out["scorecard"] = {"development"}
    if not policy.attributes:
        left_out["attributes"] = True
    return policy.model_dump(mode="json", exclude=left_out or None)
