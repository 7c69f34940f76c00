import subprocess
import sys

import pytest

from creditline.kernel.errors import DomainError
from creditline.kernel.invariant import InvariantViolation, fail, invariant


def test_invariant_that_holds_does_nothing() -> None:
    invariant(True, "never raised")  # returning at all is the behaviour under test


def test_invariant_that_fails_raises_with_its_message() -> None:
    with pytest.raises(InvariantViolation, match=r"^line l-1: negative held$"):
        invariant(False, "line l-1: negative held")


def test_fail_always_raises() -> None:
    with pytest.raises(InvariantViolation, match="corrupted"):
        fail("corrupted")


def test_a_violation_is_a_crash_not_an_expected_rejection() -> None:
    assert issubclass(InvariantViolation, RuntimeError)
    assert not issubclass(InvariantViolation, DomainError)


def _run_optimised(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=60
    )


def test_invariant_survives_python_optimise_mode() -> None:
    bare_assert = _run_optimised("assert False, 'gone'")
    assert bare_assert.returncode == 0  # why `invariant` exists: -O strips `assert`
    checked = _run_optimised(
        "from creditline.kernel.invariant import invariant\ninvariant(False, 'still checked')"
    )
    assert checked.returncode != 0
    assert "InvariantViolation: still checked" in checked.stderr
