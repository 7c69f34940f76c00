"""Who is signed in to the pages, and the token every form posts back (CSRF).

A session is the API's own bearer token (the same JWT `creditline token` prints) kept in an
HttpOnly, SameSite=Lax cookie beside a random nonce: `<nonce>.<jwt>`. The token's `exp` ends
the session, checked on every request against the injected clock, and the cookie's Max-Age is
the same time. Behind the lender's single sign-on the token arrives instead in an
`Authorization: Bearer` header that the sign-on gateway adds to every request (no nonce).

Every form carries a CSRF token: an HMAC of the nonce and the JWT under the key that signed
the JWT, so it differs for every sign-in, needs no server-side store, and cannot be made by a
page on another site (which sees neither the cookie nor the key). The sign-in form, before any
session exists, is bound the same way to a nonce in a short-lived cookie of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from creditline.api.auth import TokenRules, Unauthenticated, authenticate, issue_token
from creditline.config import Settings
from creditline.kernel.actors import Actor, Role
from creditline.kernel.errors import Forbidden

SESSION_COOKIE = "creditline_session"
SIGN_IN_COOKIE = "creditline_sign_in"
SIGN_IN_FORM_TTL = timedelta(minutes=30)
NONCE_BYTES = 16
CSRF_FIELD = "csrf_token"
_PURPOSE_SESSION = b"creditline web session csrf"
_PURPOSE_SIGN_IN = b"creditline web sign-in csrf"


class CsrfRefused(Forbidden):
    """A form posted without the token of this session (or of this sign-in form)."""

    code = "csrf_refused"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person: who, the token the pages act with, and their forms' CSRF token."""

    actor: Actor
    token: str
    csrf_token: str
    from_cookie: bool


def new_nonce() -> str:
    """A random nonce, as hex (no dots: it leads the cookie's value)."""
    return secrets.token_hex(NONCE_BYTES)


def sign_in(settings: Settings, role: Role, subject: str, now: datetime) -> tuple[str, Session]:
    """A new session for `subject` in `role`: the cookie's value and the session."""
    token = issue_token(settings.jwt_signing_key, role, subject, now, settings.web_session_lifetime)
    nonce = new_nonce()
    session = Session(Actor(subject, role), token, _csrf(settings, nonce, token), True)
    return f"{nonce}.{token}", session


def session_of(
    settings: Settings, cookie: str | None, authorization: str | None, now: datetime
) -> Session | None:
    """The session behind the request's cookie, or its bearer header; None with neither.
    A token that is not valid (or has expired) raises `Unauthenticated` (`TokenExpired`)."""
    rules = TokenRules(settings.jwt_keys, settings.token_lifetime_max, settings.token_leeway)
    if authorization:
        actor = authenticate(authorization, rules, now)
        token = authorization.removeprefix("Bearer ").strip()
        return Session(actor, token, _csrf(settings, "", token), False)
    if not cookie:
        return None
    nonce, dot, token = cookie.partition(".")
    if not dot or not nonce or not token:
        raise Unauthenticated("the session cookie is malformed")
    actor = authenticate(f"Bearer {token}", rules, now)
    return Session(actor, token, _csrf(settings, nonce, token), True)


def check_csrf(expected: str, posted: str | None) -> None:
    """Refuse a form whose CSRF token is missing or is not `expected`."""
    if not posted or not hmac.compare_digest(expected.encode(), posted.encode()):
        raise CsrfRefused("the form's CSRF token is missing or belongs to another session")


def sign_in_csrf(settings: Settings, nonce: str) -> str:
    """The CSRF token of the sign-in form bound to `nonce` (its own cookie)."""
    key = settings.jwt_signing_key.secret.encode()
    return hmac.new(key, _PURPOSE_SIGN_IN + b"\0" + nonce.encode(), hashlib.sha256).hexdigest()


def _csrf(settings: Settings, nonce: str, token: str) -> str:
    # The key that signed the token: a session outlives a change of the active key.
    kid = jwt.get_unverified_header(token).get("kid")
    secret = settings.jwt_keys.get(kid) if isinstance(kid, str) else None
    if secret is None:
        raise Unauthenticated("the session's token names no key we hold")
    message = _PURPOSE_SESSION + b"\0" + nonce.encode() + b"\0" + token.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
