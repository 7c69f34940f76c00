"""Settings read from the environment once, at start-up, by the composition root."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path

DEVELOPMENT_SIGNING_KEY = "creditline-development-key-do-not-use-in-production"
DEFAULT_DATABASE_URL = "sqlite:///var/creditline.db"
DEVELOPMENT_VERIFIER = "development"
# The key id of `CREDITLINE_JWT_SIGNING_KEY`, the single key of set-ups without a key ring.
DEFAULT_KEY_ID = "default"
KEY_ID_LENGTH_MAX = 64
SIGNING_KEY_BYTES_MIN = 32
TOKEN_LIFETIME_MAX_DEFAULT = timedelta(hours=12)
TOKEN_LEEWAY_DEFAULT = timedelta(seconds=30)
TOKEN_LEEWAY_MAX = timedelta(minutes=5)
# A web session lives this long from sign-in; then the person signs in again.
WEB_SESSION_TTL_DEFAULT = timedelta(minutes=30)
WEB_SESSION_TTL_MIN = timedelta(minutes=1)
RATE_WINDOW_DEFAULT = timedelta(hours=1)
REVIEWS_PER_WINDOW_MAX_DEFAULT = 10
APPLICATIONS_PER_WINDOW_MAX_DEFAULT = 5
VERIFICATIONS_PER_WINDOW_MAX_DEFAULT = 10


def shipped_policy_file() -> Path:
    """The default credit policy, shipped inside the package: found wherever creditline is
    installed, whatever the working directory."""
    shipped = resources.files("creditline") / "decisions" / "policies" / "cn-standard.yaml"
    return Path(str(shipped))  # a plain file: pip installs the package unzipped


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key that signs and checks bearer tokens, named by the `kid` in a token's header."""

    kid: str
    secret: str = field(repr=False)


def _development_keys() -> dict[str, str]:
    return {DEFAULT_KEY_ID: DEVELOPMENT_SIGNING_KEY}


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    environment: str = "development"  # development | production
    # Every key a token may be signed with, by key id; the active one signs new tokens. A key
    # stays here while tokens it signed may still be in use, so keys rotate without a logout.
    jwt_keys: Mapping[str, str] = field(default_factory=_development_keys, repr=False)
    jwt_active_kid: str = DEFAULT_KEY_ID
    token_lifetime_max: timedelta = TOKEN_LIFETIME_MAX_DEFAULT  # exp − iat, at most
    token_leeway: timedelta = TOKEN_LEEWAY_DEFAULT  # clock skew allowed on iat, nbf and exp
    # A sign-in to the pages lasts this long (never longer than a token may live).
    web_session_ttl: timedelta = WEB_SESSION_TTL_DEFAULT
    # Per borrower, whoever asks: requests in any sliding window of `rate_window`.
    rate_window: timedelta = RATE_WINDOW_DEFAULT
    reviews_per_window_max: int = REVIEWS_PER_WINDOW_MAX_DEFAULT
    applications_per_window_max: int = APPLICATIONS_PER_WINDOW_MAX_DEFAULT
    verifications_per_window_max: int = VERIFICATIONS_PER_WINDOW_MAX_DEFAULT
    hold_ttl: timedelta = timedelta(minutes=30)
    sweep_interval_seconds: float = 5.0
    products_file: Path | None = None  # None: the catalogue shipped in creditline/loans
    # The lender's own attributes (TOML, `decisions/attributes.py`). None: none registered.
    attributes_file: Path | None = None
    policy_file: Path = field(default_factory=shipped_policy_file)
    # Review a line after each drawdown and settlement.
    review_triggers: bool = True
    # Notices: where the lender's webhook is and how e-mail leaves.
    webhook_url: str | None = None
    webhook_secret: str = field(default="", repr=False)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    mail_from: str = "creditline@localhost"
    smtp_ca_file: str | None = None
    # Who adverse-action notices name for each profile, the lender and the bureau (TOML keyed by
    # profile id; see `notices/contacts.py`). None: the demo's samples, in development only.
    contacts_file: Path | None = None
    # `serve` delivers the outbox in the background unless this is off.
    dispatch: bool = True
    dispatch_interval_seconds: float = 2.0
    dispatch_workers: int = 8  # lines whose notices are sent at the same time
    # Who checks re-verification evidence: the development verifier (development only), or
    # "package.module:factory" returning a `creditline.decisions.verification.Verifier`.
    verifier: str = DEVELOPMENT_VERIFIER
    # Who may scrape `/metrics`: a bearer of this token; unset, only the machine itself
    # (a loopback address).
    metrics_token: str | None = field(default=None, repr=False)
    # Where every process of one server writes its metrics for the others' scrapes
    # (PROMETHEUS_MULTIPROC_DIR, prometheus_client's own; `serve --processes` sets it per run).
    # None: this process's metrics live in it alone.
    metrics_directory: Path | None = None
    # SQLite: concurrent use cases share COMMITs, and WAL checkpoints run on a thread of their
    # own (docs/decisions/0029). Off, each use case commits alone and checkpoints inline.
    sqlite_group_commit: bool = True
    sqlite_background_checkpoints: bool = True

    @property
    def is_development(self) -> bool:
        """Whether this is a development deployment."""
        return self.environment == "development"

    @property
    def web_session_lifetime(self) -> timedelta:
        """How long a sign-in to the pages lasts: the configured time, at most a token's."""
        return min(self.web_session_ttl, self.token_lifetime_max)

    @property
    def jwt_signing_key(self) -> SigningKey:
        """The key that signs new tokens."""
        return SigningKey(self.jwt_active_kid, self.jwt_keys[self.jwt_active_kid])

    @property
    def uses_default_signing_key(self) -> bool:
        """Whether any configured key is the public development key."""
        return DEVELOPMENT_SIGNING_KEY in self.jwt_keys.values()

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
        if not self.is_development and self.contacts_file is None:
            # Notices would name the demo's sample lender and bureau (US-2, US-4, CN-8).
            raise ValueError(
                "outside development set CREDITLINE_CONTACTS_FILE to the lender's and the "
                "bureau's contacts for each profile"
            )
        self._check_tokens()
        self._check_rate_limits()

    def _check_tokens(self) -> None:
        if not self.jwt_keys:
            raise ValueError("CREDITLINE_JWT_KEYS must name at least one key")
        for kid, secret in self.jwt_keys.items():
            if not _is_key_id(kid):
                raise ValueError(
                    f"a key id must be 1–{KEY_ID_LENGTH_MAX} letters, digits, '-', '_' or '.'"
                )
            if not secret:
                raise ValueError(f"the key {kid!r} is empty")
        if self.jwt_active_kid not in self.jwt_keys:
            raise ValueError("CREDITLINE_JWT_ACTIVE_KID must name one of the configured keys")
        if self.token_lifetime_max <= timedelta(0):
            raise ValueError("CREDITLINE_TOKEN_LIFETIME_MAX_SECONDS must be positive")
        if not timedelta(0) <= self.token_leeway <= TOKEN_LEEWAY_MAX:
            raise ValueError(
                f"CREDITLINE_TOKEN_LEEWAY_SECONDS must be 0–{TOKEN_LEEWAY_MAX.seconds}"
            )
        if self.web_session_ttl < WEB_SESSION_TTL_MIN:
            raise ValueError("CREDITLINE_WEB_SESSION_SECONDS must be at least 60")

    def _check_rate_limits(self) -> None:
        if self.rate_window <= timedelta(0):
            raise ValueError("CREDITLINE_RATE_WINDOW_SECONDS must be positive")
        for name, count_max in (
            ("REVIEWS", self.reviews_per_window_max),
            ("APPLICATIONS", self.applications_per_window_max),
            ("VERIFICATIONS", self.verifications_per_window_max),
        ):
            if count_max < 1:
                raise ValueError(f"CREDITLINE_{name}_PER_WINDOW_MAX must be at least 1")

    def refuse_unsafe_signing_key(self) -> None:
        """Outside development, every key that signs or checks tokens must be a secret of our
        own of ≥ 32 bytes: the development key is public, so anyone could mint an admin token
        with it."""
        if self.is_development:
            return
        short = [s for s in self.jwt_keys.values() if len(s.encode()) < SIGNING_KEY_BYTES_MIN]
        if self.uses_default_signing_key or short:
            raise ValueError(
                "outside development set CREDITLINE_JWT_SIGNING_KEY (or every key of "
                f"CREDITLINE_JWT_KEYS) to a secret of at least {SIGNING_KEY_BYTES_MIN} bytes"
            )


def _is_key_id(kid: str) -> bool:
    return 1 <= len(kid) <= KEY_ID_LENGTH_MAX and all(
        ch.isascii() and (ch.isalnum() or ch in "-_.") for ch in kid
    )


def signing_keys(env: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The key ring and the active key id from `CREDITLINE_JWT_KEYS` (`kid:secret,…`),
    `CREDITLINE_JWT_ACTIVE_KID` and `CREDITLINE_JWT_SIGNING_KEY` (one key, id `default`).

    With neither variable, the public development key. The active key id may be left out when
    one key is configured."""
    keys: dict[str, str] = {}
    for entry in filter(
        None, (part.strip() for part in env.get("CREDITLINE_JWT_KEYS", "").split(","))
    ):
        kid, separator, secret = entry.partition(":")
        if not separator or kid in keys:
            raise ValueError("CREDITLINE_JWT_KEYS is `kid:secret,kid:secret` with distinct ids")
        keys[kid] = secret
    single = env.get("CREDITLINE_JWT_SIGNING_KEY")
    if single is not None:
        if DEFAULT_KEY_ID in keys:
            raise ValueError(
                f"CREDITLINE_JWT_SIGNING_KEY is the key {DEFAULT_KEY_ID!r}: leave that id out of "
                "CREDITLINE_JWT_KEYS"
            )
        keys[DEFAULT_KEY_ID] = single
    if not keys:
        keys = _development_keys()
    active = env.get("CREDITLINE_JWT_ACTIVE_KID")
    if active is None:
        if len(keys) > 1:
            raise ValueError("with several keys set CREDITLINE_JWT_ACTIVE_KID to the signing one")
        active = next(iter(keys))
    return keys, active


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from `CREDITLINE_*` environment variables, with development defaults."""
    env = os.environ if environ is None else environ
    jwt_keys, jwt_active_kid = signing_keys(env)
    return Settings(
        database_url=env.get("CREDITLINE_DATABASE_URL", DEFAULT_DATABASE_URL),
        environment=env.get("CREDITLINE_ENV", "development"),
        jwt_keys=jwt_keys,
        jwt_active_kid=jwt_active_kid,
        token_lifetime_max=_seconds(
            env, "CREDITLINE_TOKEN_LIFETIME_MAX_SECONDS", TOKEN_LIFETIME_MAX_DEFAULT
        ),
        token_leeway=_seconds(env, "CREDITLINE_TOKEN_LEEWAY_SECONDS", TOKEN_LEEWAY_DEFAULT),
        web_session_ttl=_seconds(env, "CREDITLINE_WEB_SESSION_SECONDS", WEB_SESSION_TTL_DEFAULT),
        rate_window=_seconds(env, "CREDITLINE_RATE_WINDOW_SECONDS", RATE_WINDOW_DEFAULT),
        reviews_per_window_max=int(
            env.get("CREDITLINE_REVIEWS_PER_WINDOW_MAX", REVIEWS_PER_WINDOW_MAX_DEFAULT)
        ),
        applications_per_window_max=int(
            env.get("CREDITLINE_APPLICATIONS_PER_WINDOW_MAX", APPLICATIONS_PER_WINDOW_MAX_DEFAULT)
        ),
        verifications_per_window_max=int(
            env.get("CREDITLINE_VERIFICATIONS_PER_WINDOW_MAX", VERIFICATIONS_PER_WINDOW_MAX_DEFAULT)
        ),
        hold_ttl=timedelta(seconds=int(env.get("CREDITLINE_HOLD_TTL_SECONDS", "1800"))),
        sweep_interval_seconds=float(env.get("CREDITLINE_SWEEP_INTERVAL_SECONDS", "5")),
        products_file=(
            Path(env["CREDITLINE_PRODUCTS_FILE"]) if env.get("CREDITLINE_PRODUCTS_FILE") else None
        ),
        attributes_file=(
            Path(env["CREDITLINE_ATTRIBUTES_FILE"])
            if env.get("CREDITLINE_ATTRIBUTES_FILE")
            else None
        ),
        policy_file=(
            Path(env["CREDITLINE_POLICY_FILE"])
            if env.get("CREDITLINE_POLICY_FILE")
            else shipped_policy_file()
        ),
        review_triggers=env.get("CREDITLINE_REVIEW_TRIGGERS", "on") != "off",
        webhook_url=env.get("CREDITLINE_WEBHOOK_URL") or None,
        webhook_secret=env.get("CREDITLINE_WEBHOOK_SECRET", ""),
        smtp_host=env.get("CREDITLINE_SMTP_HOST") or None,
        smtp_port=int(env.get("CREDITLINE_SMTP_PORT", "25")),
        smtp_starttls=env.get("CREDITLINE_SMTP_STARTTLS", "off") == "on",
        smtp_username=env.get("CREDITLINE_SMTP_USERNAME") or None,
        smtp_password=env.get("CREDITLINE_SMTP_PASSWORD") or None,
        mail_from=env.get("CREDITLINE_MAIL_FROM", Settings.mail_from),
        smtp_ca_file=env.get("CREDITLINE_SMTP_CA_FILE") or None,
        contacts_file=(
            Path(env["CREDITLINE_CONTACTS_FILE"]) if env.get("CREDITLINE_CONTACTS_FILE") else None
        ),
        verifier=env.get("CREDITLINE_VERIFIER") or DEVELOPMENT_VERIFIER,
        dispatch=env.get("CREDITLINE_DISPATCH", "on") != "off",
        dispatch_interval_seconds=float(env.get("CREDITLINE_DISPATCH_INTERVAL_SECONDS", "2")),
        dispatch_workers=int(env.get("CREDITLINE_DISPATCH_WORKERS", "8")),
        metrics_token=env.get("CREDITLINE_METRICS_TOKEN") or None,
        metrics_directory=(
            Path(env["PROMETHEUS_MULTIPROC_DIR"]) if env.get("PROMETHEUS_MULTIPROC_DIR") else None
        ),
        sqlite_group_commit=env.get("CREDITLINE_SQLITE_GROUP_COMMIT", "on") != "off",
        sqlite_background_checkpoints=env.get("CREDITLINE_SQLITE_CHECKPOINTS", "background")
        != "inline",
    )


def _seconds(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    value = env.get(name)
    return default if value is None else timedelta(seconds=int(value))


def sqlite_path(database_url: str) -> Path | None:
    """The file behind an SQLite URL (None for other stores or in-memory SQLite)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or database_url == "sqlite:///:memory:":
        return None
    return Path(database_url[len(prefix) :])
