"""The reason-code catalogue: every code readable in both languages, with a next step."""

from dataclasses import replace

import pytest

from creditline.kernel.reasons import (
    _CATALOGUE,
    NEXT_STEP_TEXTS,
    REASON_CATALOGUE,
    NextStep,
    lint_catalogue,
)


def test_the_shipped_catalogue_is_clean() -> None:
    assert lint_catalogue() == []
    assert set(NEXT_STEP_TEXTS) == set(NextStep)
    assert all(en.strip() and zh.strip() for en, zh in NEXT_STEP_TEXTS.values())


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"text_zh": " "}, "utilisation_high: no text_zh"),
        ({"text_en": ""}, "utilisation_high: no text_en"),
        ({"operator_text": ""}, "utilisation_high: no operator_text"),
        ({"next_step": NextStep.NONE}, "utilisation_high: an adverse reason needs a next step"),
        ({"next_step": "call us"}, "utilisation_high: no next step"),
    ],
)
def test_the_lint_names_each_gap(change: dict, problem: str) -> None:
    broken = (replace(REASON_CATALOGUE["utilisation_high"], **change), *_CATALOGUE[1:])
    assert lint_catalogue(broken) == [problem]


def test_a_code_listed_twice_is_refused() -> None:
    assert lint_catalogue((*_CATALOGUE, _CATALOGUE[0])) == ["utilisation_high: listed twice"]


def test_adverse_reasons_point_somewhere_except_a_regulatory_cap() -> None:
    stuck = [r.code for r in _CATALOGUE if r.adverse and r.next_step is NextStep.NONE]
    assert stuck == ["regulatory_cap"]
    assert REASON_CATALOGUE["overdue_payment"].next_step is NextStep.REPAY_OVERDUE
    assert REASON_CATALOGUE["reverification_due"].next_step is NextStep.UPDATE_INCOME
