"""Composition root: wires settings, the clock, the database and the services."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial

from creditline.config import DEVELOPMENT_VERIFIER, Settings, load_settings
from creditline.db.commands import Commands
from creditline.db.engine import make_engine
from creditline.db.migrate import upgrade
from creditline.db.unit_of_work import Database
from creditline.decisions.activation import Activation
from creditline.decisions.active_policy import ActivePolicy
from creditline.decisions.appeals import Appeals
from creditline.decisions.applications import Underwriting
from creditline.decisions.attributes import LenderAttributes, load_registry
from creditline.decisions.bureau import BureauService, StoredReports
from creditline.decisions.experiments import TrialSteps
from creditline.decisions.explanation import Explainer
from creditline.decisions.governance import Governance
from creditline.decisions.limit_policy import PolicyLimits
from creditline.decisions.policy import load_policy
from creditline.decisions.rate_limits import RateLimit
from creditline.decisions.reconcile import review_checks
from creditline.decisions.registry import PolicyRegistry
from creditline.decisions.reminders import Reminders
from creditline.decisions.service import DecisionService
from creditline.decisions.trials import Trials
from creditline.decisions.verification import DevelopmentVerifier, Verifications, Verifier
from creditline.kernel.clock import Clock, SystemClock
from creditline.ledger.reconcile import Reconciler
from creditline.ledger.service import LedgerService
from creditline.loans.eod import EndOfDay
from creditline.loans.pricing import ProductPricing, ProfileLimits, ProfileTerms
from creditline.loans.products import Catalogue, load_catalogue
from creditline.loans.reconcile import loan_checks
from creditline.loans.service import LoanService
from creditline.metrics import Metrics
from creditline.notices.channels import Email, Message, SmtpSettings, Webhook
from creditline.notices.contacts import Contacts, profile_contacts
from creditline.notices.dispatcher import Dispatcher
from creditline.notices.outbox import Outbox, Topic
from creditline.notices.render import Renderer
from creditline.notices.service import NoticeService
from creditline.portfolio.book import grade_dimension, region_dimension
from creditline.portfolio.monitoring import ModelMonitor, MonitoredModel
from creditline.portfolio.service import PortfolioService, Scaling, end_of


@dataclass(frozen=True)
class Container:
    settings: Settings
    clock: Clock
    db: Database
    catalogue: Catalogue
    commands: Commands
    outbox: Outbox
    policy_limits: PolicyLimits
    ledger: LedgerService
    loans: LoanService
    decisions: DecisionService
    policies: PolicyRegistry
    explainer: Explainer
    verifications: Verifications
    appeals: Appeals
    reminders: Reminders
    bureau: BureauService
    attributes: LenderAttributes
    underwriting: Underwriting
    end_of_day: EndOfDay
    reconciler: Reconciler
    notices: NoticeService
    dispatcher: Dispatcher
    metrics: Metrics
    portfolio: PortfolioService
    model_monitor: ModelMonitor

    def close(self) -> None:
        """Stop the dispatcher's connections and close the store's pool."""
        self.dispatcher.close()
        self.db.close()
        self.db.engine.dispose()


def build(
    settings: Settings | None = None, clock: Clock | None = None, *, migrate: bool = True
) -> Container:
    """Everything a shell (API, CLI, tests) needs, on the configured store."""
    settings = settings or load_settings()
    clock = clock or SystemClock()
    catalogue = load_catalogue(settings.products_file)
    contacts = _contacts(settings, catalogue)
    background_checkpoints = settings.sqlite_background_checkpoints
    engine = make_engine(settings.database_url, background_checkpoints=background_checkpoints)
    if migrate:
        upgrade(engine)
    db = Database(
        engine,
        group_commit=settings.sqlite_group_commit,
        background_checkpoints=background_checkpoints,
    )
    commands = Commands(db, clock)
    outbox = Outbox(db, clock)
    pricing, profile_limits = ProductPricing(catalogue), ProfileLimits(catalogue)
    bureau = BureauService(db, clock, commands)
    terms = ProfileTerms(catalogue)
    seed = cache(partial(load_policy, settings.policy_file, catalogue))
    # Only the active stored version decides; the policy file seeds version one.
    active = ActivePolicy(db, clock, catalogue, seed, profile_limits.caps)
    policy_engine = active.engine
    policy_limits = PolicyLimits(active.document, StoredReports(), catalogue)
    ledger = LedgerService(
        db,
        clock,
        commands,
        outbox,
        pricing,
        settings.hold_ttl,
        profile_limits,
        terms,
        policy_limits,
        bureau,
    )
    loans = LoanService(db, clock, commands, catalogue, ledger)
    governance = Governance(db, clock, commands, catalogue, active, StoredReports(), outbox)
    # Versions in shadow beside the active one, and a challenger deciding its cell.
    trials = Trials(db, catalogue, active, ledger, outbox, governance.notice_rules)
    decisions = DecisionService(db, clock, commands, ledger, policy_engine, StoredReports(), trials)
    notices = NoticeService(db, clock, commands, ledger, catalogue, Renderer(), contacts)
    policies = _policies(db, clock, commands, catalogue, (active, governance, trials), decisions)
    rate_limits = _rate_limits(settings)
    registry = load_registry(settings.attributes_file) if settings.attributes_file else {}
    attributes = LenderAttributes(db, clock, registry)
    appeals = Appeals(
        db, clock, commands, ledger, decisions, catalogue, rate_limit=rate_limits["reviews"]
    )
    dispatcher = _dispatcher(settings, db, clock, notices, outbox)
    metrics = Metrics(settings.metrics_directory)
    metrics.watch_outbox(dispatcher.backlog)
    if settings.review_triggers:
        _review_after_changes(outbox, decisions, metrics)
    return Container(
        settings=settings,
        clock=clock,
        db=db,
        catalogue=catalogue,
        commands=commands,
        outbox=outbox,
        policy_limits=policy_limits,
        ledger=ledger,
        loans=loans,
        decisions=decisions,
        policies=policies,
        explainer=Explainer(ledger, appeals, catalogue, db),
        verifications=_verifications(settings, db, clock, commands, ledger, decisions),
        appeals=appeals,
        reminders=Reminders(db, clock, ledger, decisions, catalogue),
        bureau=bureau,
        attributes=attributes,
        underwriting=Underwriting(
            clock,
            commands,
            ledger,
            policy_engine,
            StoredReports(),
            db,
            catalogue,
            attributes,
            rate_limit=_rate_limits(settings)["applications"],
        ),
        end_of_day=EndOfDay(db, clock, (p.profile.timezone for p in catalogue)),
        reconciler=Reconciler(db, [loan_checks, review_checks]),
        notices=notices,
        dispatcher=dispatcher,
        metrics=metrics,
        portfolio=PortfolioService(
            db,
            clock,
            catalogue,
            _scaling(decisions),
            {"grade": grade_dimension, "region": region_dimension},
        ),
        model_monitor=ModelMonitor(
            db,
            clock,
            outbox,
            _monitored(decisions),
            lambda day, currency: end_of(day, catalogue.profile_for(currency)),
        ),
    )


def _scaling(decisions: DecisionService) -> Callable[[str], Scaling | None]:
    """The active policy's scorecard scaling, for reports in its currency (PD before outcomes
    have matured)."""

    def scaling(currency: str) -> Scaling | None:
        policy = decisions.engine.policy
        card = policy.scorecard
        if policy.currency != currency or card is None:
            return None
        return (card.base_points, card.pdo, card.base_odds)

    return scaling


def _monitored(decisions: DecisionService) -> Callable[[], MonitoredModel | None]:
    """The active policy's scorecard as monitoring reads it, when it keeps its development
    sample (a fitted card: docs/decisions/0021)."""

    def monitored() -> MonitoredModel | None:
        policy = decisions.engine.policy
        card = policy.scorecard
        development = card.development
        if development is None:
            return None
        shares = {a.feature: a for a in development.attributes}
        return MonitoredModel(
            label=policy.label,
            currency=policy.currency,
            scaling=(card.base_points, card.pdo, card.base_odds),
            score_bands=[(b.lower, b.upper, float(b.share)) for b in development.score_bands],
            attributes=[
                (
                    a.feature,
                    [float(s) for s in shares[a.feature].bins],
                    float(shares[a.feature].missing),
                )
                for a in card.attributes
            ],
        )

    return monitored


def _dispatcher(
    settings: Settings, db: Database, clock: Clock, notices: NoticeService, outbox: Outbox
) -> Dispatcher:
    """The outbox's delivery to the inbox, e-mail and the lender's webhook, as configured."""
    return Dispatcher(
        db,
        clock,
        notices,
        outbox,
        webhook=_webhook(settings),
        email=_email(settings),
        workers=settings.dispatch_workers,
    )


def _contacts(settings: Settings, catalogue: Catalogue) -> dict[str, Contacts]:
    """Who each profile's notices name, the lender and the bureau: outside development every
    profile in use has them configured, complete, or creditline does not start."""
    return profile_contacts(
        catalogue.profiles_in_use(), settings.contacts_file, development=settings.is_development
    )


def _verifications(
    settings: Settings,
    db: Database,
    clock: Clock,
    commands: Commands,
    ledger: LedgerService,
    decisions: DecisionService,
) -> Verifications:
    """Re-verification with the configured verifier and the borrower's rate limit."""
    limit = _rate_limits(settings)["verifications"]
    return Verifications(
        db, clock, commands, ledger, decisions, _verifier(settings), rate_limit=limit
    )


def _rate_limits(settings: Settings) -> dict[str, RateLimit]:
    """Per borrower and window: review requests, applications and verifications."""
    window = settings.rate_window
    return {
        "reviews": RateLimit("review requests", settings.reviews_per_window_max, window),
        "applications": RateLimit("applications", settings.applications_per_window_max, window),
        "verifications": RateLimit("verifications", settings.verifications_per_window_max, window),
    }


def _policies(
    db: Database,
    clock: Clock,
    commands: Commands,
    catalogue: Catalogue,
    governed: tuple[ActivePolicy, Governance, Trials],
    decisions: DecisionService,
) -> PolicyRegistry:
    """Policy versions and their governed life: submitted, simulated on the book, approved by
    another person with notice to the borrowers affected, activated on their date; run in
    shadow or as an experiment's challenger."""
    active, governance, trials = governed
    outbox, rules = governance.outbox, governance.notice_rules
    activation = Activation(db, clock, catalogue, active, decisions, StoredReports(), outbox, rules)
    steps = TrialSteps(clock, commands, trials, rules)
    return PolicyRegistry(db, clock, catalogue, governance, activation, steps)


def _review_after_changes(outbox: Outbox, decisions: DecisionService, metrics: Metrics) -> None:
    """A drawdown can trip the velocity rules and a settlement earns a re-evaluation: the line
    is reviewed right after the change commits, or by the dispatcher from the change's outbox
    message if this process dies first."""

    def review(message: Message) -> None:
        with metrics.review_seconds.time():
            decisions.review_after(message.line_id)

    for topic in (Topic.LOAN_OPENED, Topic.LOAN_SETTLED):
        outbox.register(topic, "review", review)


def _verifier(settings: Settings) -> Verifier:
    """The configured verifier: the development one, or `package.module:factory`. Outside
    development the development verifier is refused however it is named."""
    if settings.verifier == DEVELOPMENT_VERIFIER:
        verifier: Verifier = DevelopmentVerifier()
    else:
        module_name, _, factory = settings.verifier.partition(":")
        if not module_name or not factory:
            raise ValueError("CREDITLINE_VERIFIER must be development or package.module:factory")
        verifier = getattr(importlib.import_module(module_name), factory)()
    if not settings.is_development and isinstance(verifier, DevelopmentVerifier):
        raise ValueError("the development verifier accepts any evidence: not outside development")
    return verifier


def _webhook(settings: Settings) -> Webhook | None:
    if not settings.webhook_url:
        return None
    return Webhook(settings.webhook_url, settings.webhook_secret)


def _email(settings: Settings) -> Email | None:
    if not settings.smtp_host:
        return None
    return Email(
        SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.mail_from,
            ca_file=settings.smtp_ca_file,
        )
    )
