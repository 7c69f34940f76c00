"""Bearer JWT (HS256) authentication: the token's `sub` and `role` become an `Actor`.

A token names the key that signed it (`kid` in its header), so keys rotate: a new key signs
while the old one still checks the tokens it signed, until it is removed from the key ring. A
token carries `iat`, `nbf` and `exp`; its lifetime (`exp − iat`) is bounded, and a small
leeway absorbs clock skew between the issuer and us.

PyJWT checks the signature, the algorithm and that the claims are present. Its own time checks
read the wall clock, so the times are checked here against the injected clock, by the same
rules (`iat` and `nbf` no later than now + leeway, `exp` later than now − leeway).

A process checks a token's signature once: PyJWT's decoding took more time than reading a line
(profiled, about 0.3 ms a request), and a client sends the same token for hours. The times are
checked on every request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import jwt

from creditline.config import SigningKey
from creditline.kernel.actors import Actor, Role
from creditline.kernel.errors import DomainError, InvalidInput
from creditline.kernel.text import checked_text

ALGORITHM = "HS256"
TOKEN_TTL_DEFAULT = timedelta(hours=12)
SUBJECT_LENGTH_MAX = 64
REQUIRED_CLAIMS = ("sub", "role", "iat", "nbf", "exp")
_TIME_CLAIMS = ("iat", "nbf", "exp")
VERIFIED_TOKENS_KEPT = 4096  # clients of one process with a token in use


class Unauthenticated(DomainError):
    """No token, or one we cannot trust: malformed, badly signed, signed with a key we do
    not hold, not yet valid, or living longer than allowed."""

    code = "unauthenticated"


class TokenExpired(Unauthenticated):
    """A token past its expiry (beyond the leeway): the client gets a new one."""

    code = "token_expired"


@dataclass(frozen=True, slots=True)
class TokenRules:
    """What a token must satisfy: signed by one of `keys` (by key id), living at most
    `lifetime_max`, its times checked with `leeway` for clock skew."""

    keys: Mapping[str, str] = field(repr=False)
    lifetime_max: timedelta
    leeway: timedelta


def issue_token(
    signing_key: SigningKey,
    role: Role,
    subject: str,
    now: datetime,
    ttl: timedelta = TOKEN_TTL_DEFAULT,
) -> str:
    """A token for `subject` acting as `role`, signed with `signing_key` and naming it in its
    `kid` header; issued and valid from `now` (whole seconds) for `ttl`."""
    if not 1 <= len(subject) <= SUBJECT_LENGTH_MAX:
        raise ValueError(f"subject must be 1–{SUBJECT_LENGTH_MAX} characters")
    ttl_seconds = int(ttl.total_seconds())
    if ttl_seconds < 1:
        raise ValueError("a token must live at least a second")
    issued_at = int(now.timestamp())
    claims = {
        "sub": subject,
        "role": role.value,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + ttl_seconds,
    }
    return jwt.encode(
        claims, signing_key.secret, algorithm=ALGORITHM, headers={"kid": signing_key.kid}
    )


def authenticate(authorization: str | None, rules: TokenRules, now: datetime) -> Actor:
    """The actor behind an `Authorization: Bearer …` header, or `Unauthenticated`
    (`TokenExpired` for a token that has expired)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated("an `Authorization: Bearer <token>` header is required")
    token = authorization.removeprefix("Bearer ").strip()
    claims = _VERIFIED.claims(token, rules.keys)
    check_token_times(claims, rules, now)
    return _actor(claims)


class _VerifiedTokens:
    """The claims of the tokens whose signatures were checked lately, each with the key that
    checked it: a token counts as verified again only while the key ring holds the same secret
    under its key id (a key removed from the ring stops its tokens at once)."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        self._verified: OrderedDict[str, tuple[str, str, Mapping[str, Any]]] = OrderedDict()

    def claims(self, token: str, keys: Mapping[str, str]) -> Mapping[str, Any]:
        """The token's claims, its signature checked by one of `keys` now or before."""
        with self._lock:
            known = self._verified.get(token)
            if known is not None:
                self._verified.move_to_end(token)
        if known is not None:
            kid, secret, claims = known
            if keys.get(kid) == secret:
                return claims
        kid, secret, verified = _verified_claims(token, keys)
        claims = MappingProxyType(verified)
        with self._lock:
            self._verified[token] = (kid, secret, claims)
            if len(self._verified) > self._kept:
                self._verified.popitem(last=False)
        return claims


_VERIFIED = _VerifiedTokens(VERIFIED_TOKENS_KEPT)


def _verified_claims(token: str, keys: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    """The key id and secret that signed a token, one of `keys` named by its `kid` header, and
    its claims."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"the bearer token is not valid: {exc}") from None
    if not isinstance(kid, str):
        raise Unauthenticated("the bearer token names no key id (`kid` header)")
    secret = keys.get(kid)
    if secret is None:
        raise Unauthenticated(f"the bearer token is signed with an unknown key {kid[:64]!r}")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={
                "require": list(REQUIRED_CLAIMS),
                # Checked by `check_token_times` against the injected clock.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"the bearer token is not valid: {exc}") from None
    return kid, secret, claims


def check_token_times(claims: Mapping[str, Any], rules: TokenRules, now: datetime) -> None:
    """Refuse a token whose lifetime is over `rules.lifetime_max`, that was issued or becomes
    valid after now (beyond the leeway), or that has expired (`TokenExpired`)."""
    for name in _TIME_CLAIMS:
        if type(claims[name]) is not int:
            raise Unauthenticated(f"the token's `{name}` is not a whole number of seconds")
    issued_at, not_before, expires_at = (claims[name] for name in _TIME_CLAIMS)
    lifetime_max_seconds = int(rules.lifetime_max.total_seconds())
    if not 0 < expires_at - issued_at <= lifetime_max_seconds:
        raise Unauthenticated(
            f"a token may live at most {lifetime_max_seconds} seconds (exp − iat)",
            lifetime_max_seconds=lifetime_max_seconds,
        )
    at = now.timestamp()
    leeway = rules.leeway.total_seconds()
    if issued_at > at + leeway:
        raise Unauthenticated("the bearer token was issued in the future (iat)")
    if not_before > at + leeway:
        raise Unauthenticated("the bearer token is not valid yet (nbf)")
    if expires_at <= at - leeway:
        raise TokenExpired("the bearer token has expired")


def _actor(claims: Mapping[str, Any]) -> Actor:
    try:
        role = Role(claims["role"])
    except (ValueError, TypeError):
        raise Unauthenticated(f"unknown role {claims['role']!r}") from None
    subject = claims["sub"]
    try:
        checked_text(subject, "subject", SUBJECT_LENGTH_MAX)
    except InvalidInput:
        raise Unauthenticated("the token's subject is not valid") from None
    return Actor(subject, role)
