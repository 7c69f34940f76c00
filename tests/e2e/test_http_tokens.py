"""Bearer tokens over HTTP: signed with a key named by `kid` (keys rotate), carrying `iat`,
`nbf` and `exp` checked against the injected clock with a small leeway, and living no longer
than the configured maximum. Every refusal is a 401 problem document with a stable code."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from conftest import EXAMPLE_POLICY, TEST_PRODUCTS, Run
from fastapi.testclient import TestClient

from creditline.api.app import create_app
from creditline.api.auth import issue_token
from creditline.bootstrap import Container, build
from creditline.config import Settings
from creditline.kernel.actors import Role
from creditline.kernel.clock import FixedClock

OLD_KID, NEW_KID = "2026-11", "2026-12"
OLD_SECRET = "the-key-that-signed-last-month-0123456789"
NEW_SECRET = "the-key-that-signs-this-month-9876543210"
LEEWAY = timedelta(seconds=30)
LIFETIME_MAX = timedelta(hours=12)
BORROWER = "borrower-1"


def _container(database_url: str, clock: FixedClock, keys: dict[str, str]) -> Container:
    settings = Settings(
        database_url=database_url,
        products_file=TEST_PRODUCTS,
        policy_file=EXAMPLE_POLICY,
        review_triggers=False,
        jwt_keys=keys,
        jwt_active_kid=NEW_KID,
        token_lifetime_max=LIFETIME_MAX,
        token_leeway=LEEWAY,
    )
    return build(settings, clock, migrate=False)


@pytest.fixture
def rotating(database_url: str, clock: FixedClock) -> Iterator[Container]:
    """The API's container while keys rotate: the new key signs, the old one still checks."""
    built = _container(database_url, clock, {OLD_KID: OLD_SECRET, NEW_KID: NEW_SECRET})
    yield built
    built.close()


@pytest.fixture
def api(rotating: Container) -> Iterator[TestClient]:
    with TestClient(create_app(rotating), raise_server_exceptions=False) as built:
        yield built


def _token(
    clock: FixedClock,
    kid: str | None = NEW_KID,
    secret: str = NEW_SECRET,
    without: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A borrower's token issued now for an hour, with `claims` given in seconds from now
    (`exp=-60`) or as values (`role="root"`), and the claims named in `without` left out."""
    now = int(clock.now().timestamp())
    body: dict[str, Any] = {"sub": BORROWER, "role": "borrower", "iat": now, "nbf": now}
    body["exp"] = now + 3600
    for name, value in claims.items():
        body[name] = now + value if name in ("iat", "nbf", "exp") and type(value) is int else value
    body = {name: value for name, value in body.items() if name not in without}
    headers = None if kid is None else {"kid": kid}
    return jwt.encode(body, secret, algorithm="HS256", headers=headers)


def _get_lines(api: TestClient, token: str) -> Any:
    return api.get("/v1/lines", headers={"Authorization": f"Bearer {token}"})


def _refused(response: Any, code: str = "unauthenticated") -> str:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    return str(response.json()["detail"])


def test_a_token_names_the_active_key_and_carries_its_times(
    rotating: Container, api: TestClient, clock: FixedClock
) -> None:
    token = issue_token(rotating.settings.jwt_signing_key, Role.BORROWER, BORROWER, clock.now())
    assert jwt.get_unverified_header(token)["kid"] == NEW_KID
    claims = jwt.decode(token, NEW_SECRET, algorithms=["HS256"], options={"verify_exp": False})
    now = int(clock.now().timestamp())
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (now, now, now + 12 * 3600)
    assert _get_lines(api, token).status_code == 200


def test_a_token_of_the_old_key_holds_while_the_key_is_configured_and_not_after(
    database_url: str, api: TestClient, clock: FixedClock
) -> None:
    signed_last_month = _token(clock, kid=OLD_KID, secret=OLD_SECRET)
    assert _get_lines(api, signed_last_month).status_code == 200
    assert _get_lines(api, _token(clock)).status_code == 200
    # The old key is removed: its tokens are refused, the new key's still pass.
    rotated = _container(database_url, clock, {NEW_KID: NEW_SECRET})
    try:
        with TestClient(create_app(rotated), raise_server_exceptions=False) as after:
            detail = _refused(_get_lines(after, signed_last_month))
            assert "unknown key" in detail
            assert _get_lines(after, _token(clock)).status_code == 200
    finally:
        rotated.close()


@pytest.mark.parametrize(
    ("case", "token_of", "needle"),
    [
        ("unknown kid", lambda c: _token(c, kid="2025-01"), "unknown key"),
        ("no kid", lambda c: _token(c, kid=None), "no key id"),
        ("bad signature", lambda c: _token(c, secret=OLD_SECRET), "not valid"),
        ("old kid, new key's signature", lambda c: _token(c, kid=OLD_KID), "not valid"),
        ("nbf beyond the leeway", lambda c: _token(c, nbf=31), "not valid yet"),
        ("iat beyond the leeway", lambda c: _token(c, iat=31, nbf=0), "issued in the future"),
        ("lifetime over the maximum", lambda c: _token(c, exp=12 * 3600 + 1), "at most"),
        ("exp before iat", lambda c: _token(c, exp=-1, iat=0), "at most"),
        ("no nbf", lambda c: _token(c, without=("nbf",)), "nbf"),
        ("no iat", lambda c: _token(c, without=("iat",)), "iat"),
        ("exp not whole seconds", lambda c: _token(c, exp=1.5), "whole number"),
        ("unknown role", lambda c: _token(c, role="root"), "unknown role"),
    ],
)
def test_an_untrusted_token_is_refused_with_unauthenticated(
    api: TestClient, clock: FixedClock, case: str, token_of: Any, needle: str
) -> None:
    assert needle in _refused(_get_lines(api, token_of(clock))), case


def test_the_leeway_absorbs_small_clock_skew_and_no_more(
    api: TestClient, clock: FixedClock
) -> None:
    assert _get_lines(api, _token(clock, nbf=30, iat=30, exp=3600)).status_code == 200
    assert _get_lines(api, _token(clock, exp=12 * 3600)).status_code == 200  # the maximum
    assert _get_lines(api, _token(clock, iat=-3600, nbf=-3600, exp=-29)).status_code == 200
    _refused(_get_lines(api, _token(clock, iat=-3600, nbf=-3600, exp=-30)), "token_expired")


def test_a_token_expires_by_the_injected_clock(
    rotating: Container, api: TestClient, clock: FixedClock
) -> None:
    token = issue_token(
        rotating.settings.jwt_signing_key, Role.BORROWER, BORROWER, clock.now(), timedelta(hours=1)
    )
    clock.advance(timedelta(hours=1) + LEEWAY - timedelta(seconds=1))
    assert _get_lines(api, token).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert "expired" in _refused(_get_lines(api, token), "token_expired")


def test_the_token_command_signs_with_the_active_key_and_keeps_to_the_lifetime(
    creditline: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDITLINE_JWT_SIGNING_KEY", raising=False)
    monkeypatch.setenv("CREDITLINE_JWT_KEYS", f"{OLD_KID}:{OLD_SECRET},{NEW_KID}:{NEW_SECRET}")
    monkeypatch.setenv("CREDITLINE_JWT_ACTIVE_KID", NEW_KID)
    monkeypatch.setenv("CREDITLINE_TOKEN_LIFETIME_MAX_SECONDS", str(2 * 3600))
    run = creditline("token", "--role", "borrower", "--subject", BORROWER, "--hours", "2")
    assert run.returncode == 0, run.stderr
    token = run.stdout.strip()
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": NEW_KID, "typ": "JWT"}
    claims = jwt.decode(token, NEW_SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 2 * 3600
    assert claims["nbf"] == claims["iat"]
    too_long = creditline("token", "--role", "borrower", "--subject", BORROWER, "--hours", "3")
    assert too_long.returncode == 2
    assert "at most 7200 seconds" in too_long.stderr


def test_a_token_checked_once_is_refused_when_its_key_id_gets_another_secret(
    database_url: str, api: TestClient, clock: FixedClock
) -> None:
    token = _token(clock)
    assert _get_lines(api, token).status_code == 200  # its signature checked, and kept
    replaced = _container(database_url, clock, {NEW_KID: "another-secret-under-the-same-id-42"})
    try:
        with TestClient(create_app(replaced), raise_server_exceptions=False) as after:
            assert "not valid" in _refused(_get_lines(after, token))
    finally:
        replaced.close()
    assert _get_lines(api, token).status_code == 200  # still good where the key still is
