"""Settings read from the environment once, at start-up, by the composition root."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path

DEVELOPMENT_SIGNING_KEY = "creditline-development-key-do-not-use-in-production"
DEFAULT_DATABASE_URL = "sqlite:///var/creditline.db"
DEVELOPMENT_VERIFIER = "development"


def shipped_policy_file() -> Path:
    """The default credit policy, shipped inside the package: found wherever creditline is
    installed, whatever the working directory."""
    shipped = resources.files("creditline") / "decisions" / "policies" / "cn-standard.yaml"
    return Path(str(shipped))  # a plain file: pip installs the package unzipped


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    environment: str = "development"  # development | production
    jwt_signing_key: str = field(default=DEVELOPMENT_SIGNING_KEY, repr=False)
    hold_ttl: timedelta = timedelta(minutes=30)
    sweep_interval_seconds: float = 5.0
    products_file: Path | None = None  # None: the catalogue shipped in creditline/loans
    policy_file: Path = field(default_factory=shipped_policy_file)
    # Review a line after each drawdown and settlement.
    review_triggers: bool = True
    # Notices: who the lender is, where its webhook is, how e-mail leaves, who the bureau is.
    lender_name: str = "creditline demo lender"
    webhook_url: str | None = None
    webhook_secret: str = field(default="", repr=False)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    mail_from: str = "creditline@localhost"
    smtp_ca_file: str | None = None
    bureau_contact: str = "the credit bureau named in your credit report"
    bureau_score_range: str = "300-850"
    # `serve` delivers the outbox in the background unless this is off.
    dispatch: bool = True
    dispatch_interval_seconds: float = 2.0
    dispatch_workers: int = 8  # lines whose notices are sent at the same time
    # Who checks re-verification evidence: the development verifier (development only), or
    # "package.module:factory" returning a `creditline.decisions.verification.Verifier`.
    verifier: str = DEVELOPMENT_VERIFIER

    @property
    def is_development(self) -> bool:
        """Whether this is a development deployment."""
        return self.environment == "development"

    @property
    def uses_default_signing_key(self) -> bool:
        """Whether tokens are signed with the public development key."""
        return self.jwt_signing_key == DEVELOPMENT_SIGNING_KEY

    def __post_init__(self) -> None:
        if self.environment not in ("development", "production"):
            raise ValueError("CREDITLINE_ENV must be development or production")
        if self.hold_ttl <= timedelta(0):
            raise ValueError("CREDITLINE_HOLD_TTL_SECONDS must be positive")
        if self.sweep_interval_seconds <= 0:
            raise ValueError("CREDITLINE_SWEEP_INTERVAL_SECONDS must be positive")
        if self.dispatch_interval_seconds <= 0:
            raise ValueError("CREDITLINE_DISPATCH_INTERVAL_SECONDS must be positive")
        if not 1 <= self.dispatch_workers <= 32:
            raise ValueError("CREDITLINE_DISPATCH_WORKERS must be 1–32")
        if self.webhook_url and len(self.webhook_secret.encode()) < 16:
            raise ValueError(
                "CREDITLINE_WEBHOOK_URL needs CREDITLINE_WEBHOOK_SECRET of at least 16 bytes"
            )
        if not 1 <= self.smtp_port <= 65535:
            raise ValueError("CREDITLINE_SMTP_PORT must be a port number")
        if not self.is_development and self.verifier == DEVELOPMENT_VERIFIER:
            # It accepts any complete, in-date evidence: real lines must not be restored on it.
            raise ValueError(
                "outside development set CREDITLINE_VERIFIER to the identity and income "
                "verifier to use (package.module:factory)"
            )

    def refuse_unsafe_signing_key(self) -> None:
        """Outside development, tokens must be signed with a key of our own of ≥ 32 bytes:
        the development key is public, so anyone could mint an admin token with it."""
        if self.is_development:
            return
        if self.uses_default_signing_key or len(self.jwt_signing_key.encode()) < 32:
            raise ValueError(
                "outside development set CREDITLINE_JWT_SIGNING_KEY to a secret of at least "
                "32 bytes"
            )


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from `CREDITLINE_*` environment variables, with development defaults."""
    env = os.environ if environ is None else environ
    return Settings(
        database_url=env.get("CREDITLINE_DATABASE_URL", DEFAULT_DATABASE_URL),
        environment=env.get("CREDITLINE_ENV", "development"),
        jwt_signing_key=env.get("CREDITLINE_JWT_SIGNING_KEY", DEVELOPMENT_SIGNING_KEY),
        hold_ttl=timedelta(seconds=int(env.get("CREDITLINE_HOLD_TTL_SECONDS", "1800"))),
        sweep_interval_seconds=float(env.get("CREDITLINE_SWEEP_INTERVAL_SECONDS", "5")),
        products_file=(
            Path(env["CREDITLINE_PRODUCTS_FILE"]) if env.get("CREDITLINE_PRODUCTS_FILE") else None
        ),
        policy_file=(
            Path(env["CREDITLINE_POLICY_FILE"])
            if env.get("CREDITLINE_POLICY_FILE")
            else shipped_policy_file()
        ),
        review_triggers=env.get("CREDITLINE_REVIEW_TRIGGERS", "on") != "off",
        lender_name=env.get("CREDITLINE_LENDER_NAME", Settings.lender_name),
        webhook_url=env.get("CREDITLINE_WEBHOOK_URL") or None,
        webhook_secret=env.get("CREDITLINE_WEBHOOK_SECRET", ""),
        smtp_host=env.get("CREDITLINE_SMTP_HOST") or None,
        smtp_port=int(env.get("CREDITLINE_SMTP_PORT", "25")),
        smtp_starttls=env.get("CREDITLINE_SMTP_STARTTLS", "off") == "on",
        smtp_username=env.get("CREDITLINE_SMTP_USERNAME") or None,
        smtp_password=env.get("CREDITLINE_SMTP_PASSWORD") or None,
        mail_from=env.get("CREDITLINE_MAIL_FROM", Settings.mail_from),
        smtp_ca_file=env.get("CREDITLINE_SMTP_CA_FILE") or None,
        bureau_contact=env.get("CREDITLINE_BUREAU_CONTACT", Settings.bureau_contact),
        bureau_score_range=env.get("CREDITLINE_BUREAU_SCORE_RANGE", Settings.bureau_score_range),
        verifier=env.get("CREDITLINE_VERIFIER") or DEVELOPMENT_VERIFIER,
        dispatch=env.get("CREDITLINE_DISPATCH", "on") != "off",
        dispatch_interval_seconds=float(env.get("CREDITLINE_DISPATCH_INTERVAL_SECONDS", "2")),
        dispatch_workers=int(env.get("CREDITLINE_DISPATCH_WORKERS", "8")),
    )


def sqlite_path(database_url: str) -> Path | None:
    """The file behind an SQLite URL (None for other stores or in-memory SQLite)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or database_url == "sqlite:///:memory:":
        return None
    return Path(database_url[len(prefix) :])
