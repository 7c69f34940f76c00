"""Charts drawn on the server as SVG: readable without JavaScript, nothing fetched, and the
same figures in a table beside each for screen readers and for copying."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 72, 28, 12
LEGEND_HEIGHT = 20
# Colours told apart by people with the common colour-vision deficiencies (Okabe–Ito).
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


@dataclass(frozen=True)
class Bars:
    """Grouped bars: one group per category, one bar per series, from a Vega-Lite-like list
    of records (`values`), each with the category, the series and the figure."""

    title: str
    values: Sequence[Mapping[str, Any]]
    category: str
    series: str
    figure: str
    format_figure: Any = str  # how a figure is written in labels and the table

    def categories(self) -> list[str]:
        """The groups, in the order the records first name them."""
        return list(dict.fromkeys(str(v[self.category]) for v in self.values))

    def series_names(self) -> list[str]:
        """The bars in each group, in the order the records first name them."""
        return list(dict.fromkeys(str(v[self.series]) for v in self.values))

    def figure_of(self, category: str, series: str) -> int:
        """The figure of one bar (0 when the records have none)."""
        for v in self.values:
            if str(v[self.category]) == category and str(v[self.series]) == series:
                return int(v[self.figure])
        return 0


def svg(bars: Bars) -> Markup:
    """The bars as an inline SVG image with a title, axis labels and a legend."""
    categories, names = bars.categories(), bars.series_names()
    top = max([bars.figure_of(c, s) for c in categories for s in names] + [0]) or 1
    plot_width = WIDTH - MARGIN_LEFT - 8
    plot_height = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP - LEGEND_HEIGHT
    group_width = plot_width / max(len(categories), 1)
    bar_width = group_width * 0.8 / max(len(names), 1)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart" '
        f'aria-label="{escape(bars.title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(bars.title)}</title>",
    ]
    base = MARGIN_TOP + LEGEND_HEIGHT + plot_height
    parts.append(
        f'<line x1="{MARGIN_LEFT}" y1="{base}" x2="{WIDTH - 8}" y2="{base}" class="axis"/>'
    )
    parts.append(
        f'<text x="{MARGIN_LEFT - 6}" y="{MARGIN_TOP + LEGEND_HEIGHT + 10}" text-anchor="end">'
        f"{escape(bars.format_figure(top))}</text>"
    )
    for i, category in enumerate(categories):
        left = MARGIN_LEFT + i * group_width + group_width * 0.1
        for j, name in enumerate(names):
            figure = bars.figure_of(category, name)
            height = plot_height * figure / top
            parts.append(
                f'<rect x="{left + j * bar_width:.1f}" y="{base - height:.1f}" '
                f'width="{bar_width * 0.92:.1f}" height="{height:.1f}" '
                f'fill="{SERIES_COLOURS[j % len(SERIES_COLOURS)]}">'
                f"<title>{escape(category)} · {escape(name)}: "
                f"{escape(bars.format_figure(figure))}</title></rect>"
            )
        parts.append(
            f'<text x="{left + group_width * 0.4:.1f}" y="{base + 18}" text-anchor="middle">'
            f"{escape(category)}</text>"
        )
    for j, name in enumerate(names):
        x = MARGIN_LEFT + j * 140
        parts.append(
            f'<rect x="{x}" y="{MARGIN_TOP}" width="12" height="12" '
            f'fill="{SERIES_COLOURS[j % len(SERIES_COLOURS)]}"/>'
            f'<text x="{x + 18}" y="{MARGIN_TOP + 11}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def table(bars: Bars) -> Markup:
    """The same figures as a table: a row per group, a column per series."""
    names = bars.series_names()
    head = "".join(f'<th scope="col">{escape(n)}</th>' for n in names)
    rows = "".join(
        f'<tr><th scope="row">{escape(c)}</th>'
        + "".join(f"<td>{escape(bars.format_figure(bars.figure_of(c, n)))}</td>" for n in names)
        + "</tr>"
        for c in bars.categories()
    )
    return Markup(
        f'<div class="scroll"><table><caption>{escape(bars.title)}</caption>'
        f"<thead><tr><td></td>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )
