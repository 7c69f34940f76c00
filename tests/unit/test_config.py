"""Settings: the defaults come from the installed package, not the working directory."""

from pathlib import Path

import pytest

from creditline.config import (
    DEFAULT_KEY_ID,
    DEVELOPMENT_SIGNING_KEY,
    Settings,
    SigningKey,
    load_settings,
)
from creditline.decisions.policy import load_policy

# Production needs a verifier of its own: named here, never loaded by these tests.
PRODUCTION_VERIFIER = "example_lender.verifiers:connect"


def test_the_default_policy_is_the_shipped_one_wherever_the_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nowhere near the repository
    policy_file = load_settings({}).policy_file
    assert policy_file.is_absolute()
    assert policy_file.is_file()
    assert load_policy(policy_file).label == "cn-standard@2026.11.1"
    assert Settings().policy_file == policy_file


def test_a_configured_policy_file_wins_and_an_empty_one_is_unset() -> None:
    chosen = load_settings({"CREDITLINE_POLICY_FILE": "policies/us-fitted.yaml"})
    assert chosen.policy_file == Path("policies/us-fitted.yaml")
    assert load_settings({"CREDITLINE_POLICY_FILE": ""}).policy_file == Settings().policy_file


def test_the_single_signing_key_keeps_working_under_the_default_key_id() -> None:
    settings = load_settings({"CREDITLINE_JWT_SIGNING_KEY": "s" * 32})
    assert settings.jwt_keys == {DEFAULT_KEY_ID: "s" * 32}
    assert settings.jwt_signing_key == SigningKey(DEFAULT_KEY_ID, "s" * 32)
    assert load_settings({}).jwt_signing_key.secret == DEVELOPMENT_SIGNING_KEY


def test_a_key_ring_signs_with_its_active_key_and_checks_with_all() -> None:
    settings = load_settings(
        {
            "CREDITLINE_JWT_KEYS": "2026-11:" + "a" * 32 + ", 2026-12:" + "b" * 32,
            "CREDITLINE_JWT_ACTIVE_KID": "2026-12",
            "CREDITLINE_ENV": "production",
            "CREDITLINE_VERIFIER": PRODUCTION_VERIFIER,
        }
    )
    assert settings.jwt_keys == {"2026-11": "a" * 32, "2026-12": "b" * 32}
    assert settings.jwt_signing_key.kid == "2026-12"
    settings.refuse_unsafe_signing_key()
    # One key needs no active id; the single key joins the ring as `default`.
    assert load_settings({"CREDITLINE_JWT_KEYS": "k1:" + "a" * 32}).jwt_active_kid == "k1"
    both = load_settings(
        {
            "CREDITLINE_JWT_KEYS": "k1:" + "a" * 32,
            "CREDITLINE_JWT_SIGNING_KEY": "b" * 32,
            "CREDITLINE_JWT_ACTIVE_KID": "k1",
        }
    )
    assert set(both.jwt_keys) == {"k1", DEFAULT_KEY_ID}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CREDITLINE_JWT_KEYS": "k1:x,k2:y"}, "CREDITLINE_JWT_ACTIVE_KID"),
        ({"CREDITLINE_JWT_KEYS": "k1:x", "CREDITLINE_JWT_ACTIVE_KID": "k9"}, "one of the"),
        ({"CREDITLINE_JWT_KEYS": "k1"}, "kid:secret"),
        ({"CREDITLINE_JWT_KEYS": "k1:x,k1:y"}, "distinct"),
        ({"CREDITLINE_JWT_KEYS": "k 1:x"}, "key id"),
        ({"CREDITLINE_JWT_KEYS": "k1:"}, "empty"),
        ({"CREDITLINE_TOKEN_LEEWAY_SECONDS": "600"}, "LEEWAY"),
        ({"CREDITLINE_TOKEN_LIFETIME_MAX_SECONDS": "0"}, "LIFETIME"),
        ({"CREDITLINE_RATE_WINDOW_SECONDS": "0"}, "RATE_WINDOW"),
        ({"CREDITLINE_APPLICATIONS_PER_WINDOW_MAX": "0"}, "APPLICATIONS"),
    ],
)
def test_a_bad_token_or_limit_setting_is_refused_at_start_up(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings(environ)


def test_outside_development_every_key_must_be_long_enough() -> None:
    short_old_key = load_settings(
        {
            "CREDITLINE_ENV": "production",
            "CREDITLINE_VERIFIER": PRODUCTION_VERIFIER,
            "CREDITLINE_JWT_KEYS": "old:short,new:" + "n" * 32,
            "CREDITLINE_JWT_ACTIVE_KID": "new",
        }
    )
    with pytest.raises(ValueError, match="at least 32 bytes"):
        short_old_key.refuse_unsafe_signing_key()
    with pytest.raises(ValueError, match="at least 32 bytes"):
        load_settings(
            {"CREDITLINE_ENV": "production", "CREDITLINE_VERIFIER": PRODUCTION_VERIFIER}
        ).refuse_unsafe_signing_key()
