"""Decision inputs kept by creditline: consents to credit-bureau pulls, bureau reports,
applications, the reviews borrowers ask for, and every policy that has decided."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from creditline.db.metadata import ID, UtcDateTime, metadata

consents = Table(
    "consents",
    metadata,
    Column("id", ID, primary_key=True),
    Column("borrower_id", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("granted_at", UtcDateTime, nullable=False),
    Column("recorded_by", String(160), nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    CheckConstraint("purpose IN ('credit_bureau')", name="purpose_known"),
)
Index("ix_consents_borrower", consents.c.borrower_id, consents.c.purpose)

bureau_reports = Table(
    "bureau_reports",
    metadata,
    Column("id", ID, primary_key=True),
    Column("borrower_id", String(64), nullable=False),
    Column("consent_id", ID, ForeignKey("consents.id"), nullable=False),
    Column("source", String(64), nullable=False),
    Column("reported_at", UtcDateTime, nullable=False),
    Column("loaded_at", UtcDateTime, nullable=False),
    Column("loaded_by", String(160), nullable=False),
    Column("inquiries_1m", BigInteger, nullable=True),
    Column("inquiries_3m", BigInteger, nullable=True),
    Column("inquiries_6m", BigInteger, nullable=True),
    Column("lenders_with_open_loans", BigInteger, nullable=True),
    Column("other_limits_minor", BigInteger, nullable=True),
    Column("bureau_score", BigInteger, nullable=True),
    # Monthly payments on other debts (US-6 ability to pay).
    Column("obligations_monthly_minor", BigInteger, nullable=True),
    # JSON: the key factors that adversely affected the score, in the bureau's order (US-4).
    Column("key_factors", Text, nullable=True),
    CheckConstraint(
        "COALESCE(inquiries_1m, 0) >= 0 AND COALESCE(inquiries_3m, 0) >= 0 "
        "AND COALESCE(inquiries_6m, 0) >= 0 AND COALESCE(lenders_with_open_loans, 0) >= 0 "
        "AND COALESCE(other_limits_minor, 0) >= 0",
        name="counts_non_negative",
    ),
)
Index(
    "ix_bureau_reports_borrower",
    bureau_reports.c.borrower_id,
    bureau_reports.c.reported_at,
    bureau_reports.c.source,
    unique=True,
)

applications = Table(
    "applications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("borrower_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("income_monthly_minor", BigInteger, nullable=False),
    Column("income_evidence", Boolean, nullable=False),
    Column("income_evidence_expires_on", Date, nullable=True),
    Column("birth_date", Date, nullable=False),
    Column("employment", String(32), nullable=False),
    # Monthly payments on other debts, as the applicant states them (null: not stated).
    Column("obligations_monthly_minor", BigInteger, nullable=True),
    # Where the applicant lives, as stated: an ISO 3166-2 subdivision (null: not stated).
    Column("region", String(6), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),  # approved | declined
    Column("granted_limit_minor", BigInteger, nullable=False),
    # The line an approval opened, in the same transaction as the application.
    Column("line_id", ID, nullable=True),
    Column("reason_codes", Text, nullable=False),  # JSON
    Column("evidence", Text, nullable=False),  # JSON: policy, score, trace, features
    CheckConstraint("income_monthly_minor >= 0", name="income_non_negative"),
    CheckConstraint("outcome IN ('approved', 'declined')", name="outcome_known"),
    CheckConstraint("outcome = 'approved' OR line_id IS NULL", name="declined_has_no_line"),
)
Index("ix_applications_borrower", applications.c.borrower_id, applications.c.created_at)

# A review a borrower (or staff for them) asked for: what became of it. The requests of the last
# 7 and 30 days are features (increase_requests_7d / _30d).
reviews = Table(
    "reviews",
    metadata,
    Column("id", ID, primary_key=True),
    Column("line_id", ID, ForeignKey("lines.id"), nullable=False),
    Column("borrower_id", String(64), nullable=False),
    Column("requested_by", String(128), nullable=False),  # the actor's subject
    Column("created_at", UtcDateTime, nullable=False),
    Column("decision_id", ID, nullable=True),  # the change it made, if any
    # automatic: pending, then as Applied.outcome; human: open, then uphold | reverse | modify
    Column("outcome", String(16), nullable=False),
    Column("kind", String(16), nullable=True),  # automatic | human
    Column("reason_text", Text, nullable=True),  # the borrower's words
    Column("due_at", UtcDateTime, nullable=True),  # a human review's deadline
    Column("contested_decision_id", ID, nullable=True),
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("note", Text, nullable=True),
    # The borrower's own view of the decision, for the reviewer only (GDPR Art. 22(3)).
    Column("statement", Text, nullable=True),
)
Index("ix_reviews_borrower", reviews.c.borrower_id, reviews.c.created_at)
Index("ix_reviews_line", reviews.c.line_id, reviews.c.created_at)
Index("ix_reviews_open", reviews.c.kind, reviews.c.outcome, reviews.c.due_at)

# Evidence a borrower sent to re-verify, and what the verifier made of it.
verifications = Table(
    "verifications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("borrower_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # identity | income
    Column("status", String(16), nullable=False),  # accepted | rejected
    Column("problem", Text, nullable=True),  # why it was rejected, in plain words
    Column("income_monthly_minor", BigInteger, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("expires_on", Date, nullable=True),  # when the evidence stops being in date
    Column("verifier", String(64), nullable=False),
    Column("evidence", Text, nullable=False),  # JSON, as sent
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("status IN ('accepted', 'rejected')", name="status_known"),
)
Index("ix_verifications_borrower", verifications.c.borrower_id, verifications.c.created_at)

# Each policy id@version as it was first used to decide; never updated or deleted (triggers).
policies = Table(
    "policies",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("document", Text, nullable=False),  # JSON, as validated
    Column("activated_at", UtcDateTime, nullable=False),
)

# Reminders sent, one per thing they are about (a freeze, an expiring piece of evidence).
reminders = Table(
    "reminders",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("about", String(128), primary_key=True),
    Column("sent_at", UtcDateTime, nullable=False),
)

# --- policy governance (decisions/lifecycle.py): every table append-only (triggers) -----------
# Every version submitted, its document as validated; never updated or deleted.
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("document", Text, nullable=False),  # JSON
    Column("submitted_by", String(160), nullable=False),  # the author's scope (maker)
    Column("submitted_at", UtcDateTime, nullable=False),
)

# Each step of a version's life: its state is its latest step's.
policy_steps = Table(
    "policy_steps",
    metadata,
    Column("id", ID, primary_key=True),  # time-ordered: the steps' order
    Column("policy_id", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("actor", String(160), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("justification", Text, nullable=True),
    Column("effective_at", UtcDateTime, nullable=True),  # approved: when it takes effect
    Column("simulation_id", ID, nullable=True),  # approved: the simulation it rests on
    Column("details", Text, nullable=True),  # JSON: lint problems, guardrail override …
    CheckConstraint(
        "state IN ('draft', 'linted', 'simulated', 'approved', 'scheduled', 'active', 'retired', "
        "'shadow', 'challenger', 'stopped')",
        name="state_known",
    ),
)
Index(
    "ix_policy_steps_version", policy_steps.c.policy_id, policy_steps.c.version, policy_steps.c.id
)

# An impact simulation of a version against the active one on the book of the day.
policy_simulations = Table(
    "policy_simulations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("policy_id", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("against", String(160), nullable=True),  # the active version's label
    Column("actor", String(160), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("lines_total", BigInteger, nullable=False),
    Column("adverse_count", BigInteger, nullable=False),
    Column("close_count", BigInteger, nullable=False),
    Column("summary", Text, nullable=False),  # JSON: counts, exposure, rule diff
    Column("chart", Text, nullable=False),  # JSON: a Vega-Lite specification
)
Index("ix_policy_simulations_version", policy_simulations.c.policy_id, policy_simulations.c.version)

# The lines a simulation found adversely affected, each with the change it projects. Their
# ids are made here so that approval copies them, set-based, into pending changes and notices.
policy_simulation_lines = Table(
    "policy_simulation_lines",
    metadata,
    Column("simulation_id", ID, primary_key=True),
    Column("line_id", ID, primary_key=True),
    Column("change_id", ID, nullable=False),  # the pending change's id, at approval
    Column("notice_id", ID, nullable=False),  # the notice's id, at approval
    Column("borrower_id", String(64), nullable=False),
    Column("change", Text, nullable=False),  # JSON: action, limits, reasons
)

# A change a policy version will make to one line, announced to its borrower, and when it
# takes effect (each line's own notice period). Never updated: its outcome is a row below.
policy_changes = Table(
    "policy_changes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("policy_id", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("line_id", ID, nullable=False),
    Column("borrower_id", String(64), nullable=False),
    Column("change", Text, nullable=False),  # JSON: action, limits, reasons
    Column("announced_at", UtcDateTime, nullable=False),
    Column("effective_at", UtcDateTime, nullable=False),
    Column("notice_id", ID, nullable=False),
)
Index("ix_policy_changes_line", policy_changes.c.line_id, policy_changes.c.effective_at)
Index("ix_policy_changes_version", policy_changes.c.policy_id, policy_changes.c.version)

# What became of a pending change when it came due: applied, not_adverse (the borrower's
# outcome improved), renoticed (harsher than announced: a new change with its own notice).
policy_change_outcomes = Table(
    "policy_change_outcomes",
    metadata,
    Column("change_id", ID, primary_key=True),
    Column("outcome", String(16), nullable=False),
    Column("decision_id", ID, nullable=True),
    Column("at", UtcDateTime, nullable=False),
)

# --- shadow versions and champion/challenger experiments (docs/decisions/0018) ---------------
# Every table is append-only (triggers): an experiment's state is its latest event.

# What a version in shadow would have decided beside the decision the active version made, on
# a live trigger: nothing of it reached the line or the borrower.
policy_shadow_decisions = Table(
    "policy_shadow_decisions",
    metadata,
    Column("id", ID, primary_key=True),  # time-ordered
    Column("policy_id", String(64), nullable=False),  # the version in shadow
    Column("version", String(64), nullable=False),
    Column("line_id", ID, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("active_policy", String(160), nullable=False),  # the active version's label
    Column("limit_minor", BigInteger, nullable=False),  # the line's limit when decided
    Column("active_action", String(16), nullable=False),
    Column("active_limit_minor", BigInteger, nullable=False),
    Column("active_reason_codes", Text, nullable=False),  # JSON
    Column("shadow_action", String(16), nullable=False),
    Column("shadow_limit_minor", BigInteger, nullable=False),
    Column("shadow_reason_codes", Text, nullable=False),  # JSON
    Column("shadow_rule", String(64), nullable=True),  # the shadow's decisive rule
    # The shadow would leave the borrower less to draw than the active version did.
    Column("adverse", Boolean, nullable=False),
)
Index(
    "ix_policy_shadow_decisions_version",
    policy_shadow_decisions.c.policy_id,
    policy_shadow_decisions.c.version,
    policy_shadow_decisions.c.id,
)

# An experiment: a challenger version deciding a slice of the book, drawn by hash.
policy_experiments = Table(
    "policy_experiments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("policy_id", String(64), nullable=False),  # the challenger
    Column("version", String(64), nullable=False),
    Column("champion", String(160), nullable=False),  # the active version at the start
    Column("salt", String(64), nullable=False),
    Column("share_bp", Integer, nullable=False),
    Column("adverse_rate_max_bp", Integer, nullable=False),
    Column("exposure_change_max_bp", Integer, nullable=False),
    Column("decisions_min", Integer, nullable=False),
    Column("simulation_id", ID, nullable=False),  # the simulation its approval rests on
    CheckConstraint("share_bp BETWEEN 1 AND 5000", name="share_bp_within"),
    CheckConstraint(
        "adverse_rate_max_bp BETWEEN 0 AND 10000 AND exposure_change_max_bp BETWEEN 0 AND 10000 "
        "AND decisions_min >= 1",
        name="guardrails_within",
    ),
)

# Its start and its stop (by a person, or by a guardrail): who, when, why.
policy_experiment_events = Table(
    "policy_experiment_events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("policy_experiments.id"), nullable=False),
    Column("event", String(16), nullable=False),
    Column("actor", String(160), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("justification", Text, nullable=True),
    Column("details", Text, nullable=True),  # JSON: the guardrail breached, notices queued …
    CheckConstraint("event IN ('started', 'stopped')", name="event_known"),
)
Index(
    "ix_policy_experiment_events_experiment",
    policy_experiment_events.c.experiment_id,
    policy_experiment_events.c.id,
)

# Every decision about a line while an experiment runs, with the line's cell: which version
# decided, what, and what became of it.
policy_experiment_decisions = Table(
    "policy_experiment_decisions",
    metadata,
    Column("id", ID, primary_key=True),  # time-ordered
    Column("experiment_id", ID, nullable=False),
    Column("line_id", ID, nullable=False),
    Column("cell", String(16), nullable=False),
    Column("bucket", Integer, nullable=False),
    Column("policy", String(160), nullable=False),  # the version that decided
    Column("at", UtcDateTime, nullable=False),
    Column("action", String(16), nullable=False),
    Column("adverse", Boolean, nullable=False),
    Column("limit_before_minor", BigInteger, nullable=False),
    Column("limit_after_minor", BigInteger, nullable=False),  # what the line's limit became
    Column("reason_codes", Text, nullable=False),  # JSON
    Column("outcome", String(16), nullable=False),  # as a review's (Applied.outcome)
    Column("decision_id", ID, nullable=True),  # the recorded change, when one was made
    CheckConstraint("cell IN ('champion', 'challenger')", name="cell_known"),
)
Index(
    "ix_policy_experiment_decisions_cell",
    policy_experiment_decisions.c.experiment_id,
    policy_experiment_decisions.c.cell,
    policy_experiment_decisions.c.line_id,
)

# The lender's own attributes loaded in batches (`creditline attributes load`): a borrower's
# latest value of each, as text in the registry's spelling (docs/decisions/0022).
lender_attribute_values = Table(
    "lender_attribute_values",
    metadata,
    Column("borrower_id", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=True),  # null: unknown
    Column("loaded_at", UtcDateTime, nullable=False),
)
