"""Bearer JWT (HS256) authentication: the token's `sub` and `role` become an `Actor`."""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

from creditline.kernel.actors import Actor, Role
from creditline.kernel.errors import DomainError, InvalidInput
from creditline.kernel.text import checked_text

ALGORITHM = "HS256"
TOKEN_TTL_DEFAULT = timedelta(hours=12)
SUBJECT_LENGTH_MAX = 64


class Unauthenticated(DomainError):
    code = "unauthenticated"


def issue_token(
    signing_key: str, role: Role, subject: str, now: datetime, ttl: timedelta = TOKEN_TTL_DEFAULT
) -> str:
    """A signed token for `subject` acting as `role`, valid for `ttl` from `now`."""
    if not 1 <= len(subject) <= SUBJECT_LENGTH_MAX:
        raise ValueError(f"subject must be 1–{SUBJECT_LENGTH_MAX} characters")
    claims = {"sub": subject, "role": role.value, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, signing_key, algorithm=ALGORITHM)


def authenticate(authorization: str | None, signing_key: str, now: datetime) -> Actor:
    """The actor behind an `Authorization: Bearer …` header, or `Unauthenticated`."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated("an `Authorization: Bearer <token>` header is required")
    token = authorization.removeprefix("Bearer ").strip()
    try:
        # Expiry is checked below against the injected clock, not the library's wall clock.
        claims = jwt.decode(
            token,
            signing_key,
            algorithms=[ALGORITHM],
            options={
                "require": ["sub", "role", "exp"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"the bearer token is not valid: {exc}") from None
    if type(claims["exp"]) is not int:
        raise Unauthenticated("the token's expiry is not a whole number of seconds")
    if claims["exp"] <= int(now.timestamp()):
        raise Unauthenticated("the bearer token has expired")
    try:
        role = Role(claims["role"])
    except ValueError:
        raise Unauthenticated(f"unknown role {claims['role']!r}") from None
    subject = claims["sub"]
    try:
        checked_text(subject, "subject", SUBJECT_LENGTH_MAX)
    except InvalidInput:
        raise Unauthenticated("the token's subject is not valid") from None
    return Actor(subject, role)
