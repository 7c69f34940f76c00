"""Settings: the defaults come from the installed package, not the working directory."""

from pathlib import Path

import pytest

from creditline.config import Settings, load_settings
from creditline.decisions.policy import load_policy


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
