"""`creditline` run from a directory of its own, as an installed command is: every default it
needs (the policy, the products) comes from the package, none from the working directory."""

import json
import os
import subprocess
import sys
from pathlib import Path


def _creditline_in(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`creditline *args` with the working directory `directory` and no settings but the
    database (the suite's own CREDITLINE_* choices are dropped)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CREDITLINE_")}
    env["CREDITLINE_DATABASE_URL"] = f"sqlite:///{directory / 'creditline.db'}"
    return subprocess.run(
        [sys.executable, "-m", "creditline.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=directory,
        env=env,
    )


def test_a_book_is_loaded_and_reviewed_with_the_shipped_defaults(tmp_path: Path) -> None:
    upgraded = _creditline_in(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    # Each drawdown in the demo is reviewed with the default policy as it happens.
    loaded = _creditline_in(tmp_path, "demo", "--borrowers", "3")
    assert loaded.returncode == 0, loaded.stderr
    assert "Traceback" not in loaded.stderr
    reviewed = _creditline_in(tmp_path, "review")
    assert reviewed.returncode == 0, reviewed.stderr
    assert "Traceback" not in reviewed.stderr
    outcomes = json.loads(reviewed.stdout)
    assert sum(outcomes.values()) >= 1, outcomes  # the shipped policy decided the demo's lines
