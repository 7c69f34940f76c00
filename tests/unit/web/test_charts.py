"""The console's charts: each bar's height is its figure's share of the tallest, the figures
are in a table beside it, and text from the data is escaped."""

from __future__ import annotations

import re

from creditline.web.charts import HEIGHT, LEGEND_HEIGHT, MARGIN_BOTTOM, MARGIN_TOP, Bars, svg, table

PLOT_HEIGHT = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP - LEGEND_HEIGHT
VALUES = [
    {"grade": "C", "policy": "active", "limit_minor": 4_000_000},
    {"grade": "C", "policy": "candidate", "limit_minor": 4_000_000},
    {"grade": "D", "policy": "active", "limit_minor": 2_000_000},
    {"grade": "D", "policy": "candidate", "limit_minor": 1_500_000},
]


def bars(values: list[dict[str, object]]) -> Bars:
    return Bars("Limits by grade", values, "grade", "policy", "limit_minor")


def test_each_bar_is_its_share_of_the_tallest() -> None:
    drawn = svg(bars(VALUES))
    # A bar carries its own title (the legend's squares do not).
    heights = [float(h) for h in re.findall(r'height="([^"]+)" fill="[^"]+"><title>', drawn)]
    # In order C/active, C/candidate, D/active, D/candidate; 4,000,000 is the tallest.
    expected = [PLOT_HEIGHT, PLOT_HEIGHT, PLOT_HEIGHT * 0.5, PLOT_HEIGHT * 0.375]
    assert heights == [round(h, 1) for h in expected]


def test_the_figures_are_in_a_table_too() -> None:
    rows = re.findall(
        r"<tr><th scope=\"row\">(\w)</th><td>(\d+)</td><td>(\d+)</td></tr>", table(bars(VALUES))
    )
    assert rows == [("C", "4000000", "4000000"), ("D", "2000000", "1500000")]


def test_text_from_the_data_is_escaped() -> None:
    drawn = svg(bars([{"grade": "<script>", "policy": "a&b", "limit_minor": 1}]))
    assert "<script>" not in drawn
    assert "&lt;script&gt;" in drawn and "a&amp;b" in drawn


def test_no_figures_draw_no_bars() -> None:
    assert "<rect x" not in svg(bars([]))
