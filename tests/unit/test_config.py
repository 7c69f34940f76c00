"""Settings: the defaults come from the installed package, not the working directory."""

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import pytest

from creditline.bootstrap import build
from creditline.config import (
    DEFAULT_KEY_ID,
    DEVELOPMENT_SIGNING_KEY,
    Settings,
    SigningKey,
    load_settings,
)
from creditline.decisions.policy import load_policy
from creditline.loans.products import Profile, load_catalogue
from creditline.notices.contacts import profile_contacts, read_contacts

# Production needs a verifier of its own: named here, never loaded by these tests.
PRODUCTION_VERIFIER = "example_lender.verifiers:connect"
# And who its notices name, for every profile of the shipped catalogue (CN, US).
CONTACTS_FILE = str(Path(__file__).parents[1] / "fixtures" / "contacts.toml")
PRODUCTION = {
    "CREDITLINE_ENV": "production",
    "CREDITLINE_VERIFIER": PRODUCTION_VERIFIER,
    "CREDITLINE_CONTACTS_FILE": CONTACTS_FILE,
}


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
            **PRODUCTION,
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
            **PRODUCTION,
            "CREDITLINE_JWT_KEYS": "old:short,new:" + "n" * 32,
            "CREDITLINE_JWT_ACTIVE_KID": "new",
        }
    )
    with pytest.raises(ValueError, match="at least 32 bytes"):
        short_old_key.refuse_unsafe_signing_key()
    with pytest.raises(ValueError, match="at least 32 bytes"):
        load_settings(PRODUCTION).refuse_unsafe_signing_key()


def test_production_refuses_to_start_without_the_contacts_its_notices_name() -> None:
    without = {k: v for k, v in PRODUCTION.items() if k != "CREDITLINE_CONTACTS_FILE"}
    with pytest.raises(ValueError, match="CREDITLINE_CONTACTS_FILE"):
        load_settings(without)
    with pytest.raises(ValueError, match="CREDITLINE_CONTACTS_FILE"):
        load_settings({**without, "CREDITLINE_CONTACTS_FILE": ""})
    assert load_settings(PRODUCTION).contacts_file == Path(CONTACTS_FILE)


US_COMPLETE = """
[US.lender]
name = "Example Lender"
address = "1 Example Plaza, Springfield, IL 62701"
phone = "1-800-555-0110"
agency = "Example Federal Agency, Washington, DC 20001"
[US.bureau]
name = "Example Bureau"
address = "PO Box 1, Springfield, IL 62702"
phone = "1-877-555-0120"
score_range = [300, 850]
"""
CN_COMPLETE = """
[CN.lender]
name = "测试小额贷款有限公司"
address = "杭州市西湖区测试路8号"
phone = "400-111-2222"
[CN.bureau]
name = "测试征信机构"
address = "北京市测试区征信路1号"
phone = "400-333-4444"
objections = "致电 400-333-4444 提出异议"
complaints = "拨打 12345 投诉"
"""


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        (US_COMPLETE, "profile CN: no \\[CN\\] contacts"),
        (
            CN_COMPLETE
            + US_COMPLETE.replace('agency = "Example Federal Agency, Washington, DC 20001"', ""),
            "profile US: lender.agency is missing",
        ),
        (CN_COMPLETE + US_COMPLETE.replace("agency =", "regulator ="), "US.lender.regulator"),
        (CN_COMPLETE + US_COMPLETE.replace("score_range = [300, 850]", ""), "score_range"),
        (CN_COMPLETE + US_COMPLETE.replace("[300, 850]", "[850, 300]"), "score_range"),
        (CN_COMPLETE.replace('complaints = "拨打 12345 投诉"', "") + US_COMPLETE, "complaints"),
        (CN_COMPLETE.replace("测试征信机构", "Test Bureau") + US_COMPLETE, "Latin letters"),
        (CN_COMPLETE + US_COMPLETE.replace('phone = "1-800-555-0110"', 'phone = " "'), "phone"),
        ("[CN", "contacts file"),
    ],
    ids=[
        "a-profile-missing",
        "the-federal-agency-missing",
        "an-unknown-field",
        "the-score-range-missing",
        "a-backwards-score-range",
        "the-complaints-channel-missing",
        "english-in-a-chinese-profile",
        "a-blank-phone",
        "not-toml",
    ],
)
def test_production_refuses_to_start_unless_every_profile_in_use_has_complete_contacts(
    tmp_path: Path, text: str, refusal: str
) -> None:
    contacts = tmp_path / "contacts.toml"
    contacts.write_text(text, encoding="utf-8")
    store = tmp_path / "creditline.db"
    settings = Settings(
        database_url=f"sqlite:///{store}",
        environment="production",
        jwt_keys={DEFAULT_KEY_ID: "k" * 32},
        verifier=PRODUCTION_VERIFIER,
        contacts_file=contacts,
    )
    with pytest.raises(ValueError, match=refusal):
        build(settings)
    assert not store.exists()  # refused before touching the store


def test_the_configured_contacts_are_each_profile_s_own() -> None:
    profiles = load_catalogue().profiles_in_use()
    chosen = profile_contacts(profiles, Path(CONTACTS_FILE), development=False)
    assert chosen == {key: read_contacts(Path(CONTACTS_FILE))[key] for key in ("CN", "US", "EU")}


def test_development_without_a_file_names_the_demo_contacts_of_each_jurisdiction() -> None:
    profiles = load_catalogue().profiles_in_use()
    chosen = profile_contacts(profiles, None, development=True)
    assert chosen["CN"].bureau.name == "中国人民银行征信中心"
    assert chosen["CN"].bureau.phone == "400-810-8866"
    assert (chosen["US"].bureau.name, chosen["US"].bureau.score_range) == ("Experian", (300, 850))
    # Every jurisdiction has its sample, so a new profile runs in a demo at once.
    for jurisdiction, language in (("CN", "zh-CN"), ("US", "en"), ("EU", "en"), ("other", "en")):
        new = dataclasses.replace(chosen_profile(profiles), code="NEW", jurisdiction=jurisdiction)
        new = dataclasses.replace(new, language=language)
        assert profile_contacts([new], None, development=True)["NEW"].lender.phone
    # Outside development the demo's sample contacts are never used.
    with pytest.raises(ValueError, match="CREDITLINE_CONTACTS_FILE"):
        profile_contacts(profiles, None, development=False)


def chosen_profile(profiles: Iterable[Profile]) -> Profile:
    return next(iter(profiles))
