"""A line's cell is a hash anyone can compute again; guardrails look at the challenger's cell
once it has enough decisions."""

from __future__ import annotations

import hashlib
import uuid

from creditline.decisions.cells import Cell, CellFigures, Guardrails, breach, bucket, cell_of


def independent_bucket(salt: str, line_id: str) -> int:
    digest = hashlib.sha256(f"{salt}:{line_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def test_the_bucket_is_the_documented_hash_and_the_same_every_time() -> None:
    ids = [str(uuid.UUID(int=n * 7919 + 1)) for n in range(200)]
    for line_id in ids:
        assert bucket("spring-2027", line_id) == independent_bucket("spring-2027", line_id)
        assert cell_of("spring-2027", 1000, line_id) == cell_of("spring-2027", 1000, line_id)
    # The same read another way: the first 16 hex digits of the digest, modulo 10,000.
    digest = hashlib.sha256(b"s:line-1").digest()
    assert bucket("s", "line-1") == int(digest[:8].hex(), 16) % 10_000
    # Another salt draws other cells.
    assert [bucket("a", i) for i in ids] != [bucket("b", i) for i in ids]


def test_the_share_in_basis_points_is_the_challengers_slice() -> None:
    ids = [str(uuid.UUID(int=n)) for n in range(10_000)]
    drawn = [cell_of("share", 1000, line_id) for line_id in ids]
    challengers = sum(1 for cell, _ in drawn if cell is Cell.CHALLENGER)
    assert 850 <= challengers <= 1150  # 10 % of 10,000, give or take
    assert all((cell is Cell.CHALLENGER) == (found < 1000) for cell, found in drawn)


def test_guardrails_wait_for_enough_decisions_then_stop_at_either_limit() -> None:
    rails = Guardrails(adverse_rate_max_bp=2000, exposure_change_max_bp=1000, decisions_min=5)
    # 3 adverse of 4 is above 20 %, but 4 decisions are too few to judge.
    assert breach(CellFigures(4, 3, 1_000_000, 1_000_000), rails) is None
    assert breach(CellFigures(5, 1, 1_000_000, 1_000_000), rails) is None  # exactly 20 %
    assert breach(CellFigures(5, 2, 1_000_000, 1_000_000), rails) == {
        "guardrail": "adverse_rate",
        "observed": "0.4000",
        "maximum": "0.2000",
    }
    assert breach(CellFigures(5, 0, 1_000_000, 900_000), rails) is None  # exactly −10 %
    assert breach(CellFigures(5, 0, 1_000_000, 1_150_000), rails) == {
        "guardrail": "exposure_change",
        "observed": "0.1500",
        "maximum": "0.1000",
    }
    assert breach(CellFigures(5, 0, 1_000_000, 850_000), rails)["observed"] == "-0.1500"  # type: ignore[index]
