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


@dataclass(frozen=True)
class Curves:
    """Lines over a shared x axis (months on book): one series per name, each a list of
    figures from x = 0, shown with `format_figure`."""

    title: str
    series: Mapping[str, Sequence[float]]
    x_label: str
    format_figure: Any = str


def curves_svg(curves: Curves) -> Markup:
    """The curves as an inline SVG image with a title, axis labels and a legend."""
    longest = max([len(points) for points in curves.series.values()] + [2])
    top = max([max(points, default=0) for points in curves.series.values()] + [0]) or 1
    plot_width = WIDTH - MARGIN_LEFT - 8
    plot_height = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP - LEGEND_HEIGHT
    base = MARGIN_TOP + LEGEND_HEIGHT + plot_height
    step = plot_width / (longest - 1)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart" '
        f'aria-label="{escape(curves.title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(curves.title)}</title>",
        f'<line x1="{MARGIN_LEFT}" y1="{base}" x2="{WIDTH - 8}" y2="{base}" class="axis"/>',
        f'<text x="{MARGIN_LEFT - 6}" y="{MARGIN_TOP + LEGEND_HEIGHT + 10}" text-anchor="end">'
        f"{escape(curves.format_figure(top))}</text>",
        f'<text x="{WIDTH - 8}" y="{base + 18}" text-anchor="end">'
        f"{escape(curves.x_label)} {longest - 1}</text>",
        f'<text x="{MARGIN_LEFT}" y="{base + 18}">0</text>',
    ]
    for j, (name, points) in enumerate(curves.series.items()):
        colour = SERIES_COLOURS[j % len(SERIES_COLOURS)]
        path = " ".join(
            f"{MARGIN_LEFT + i * step:.1f},{base - plot_height * float(v) / float(top):.1f}"
            for i, v in enumerate(points)
        )
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(name)}</title></polyline>"
        )
        x = MARGIN_LEFT + (j % 4) * 140
        parts.append(
            f'<rect x="{x}" y="{MARGIN_TOP}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 18}" y="{MARGIN_TOP + 11}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def curves_table(curves: Curves) -> Markup:
    """The same figures as a table: a row per series, a column per x."""
    longest = max([len(points) for points in curves.series.values()] + [0])
    head = "".join(f'<th scope="col">{x}</th>' for x in range(longest))
    body = "".join(
        f'<tr><th scope="row">{escape(name)}</th>'
        + "".join(f"<td>{escape(curves.format_figure(v))}</td>" for v in points)
        + "</tr>"
        for name, points in curves.series.items()
    )
    return Markup(
        f'<div class="scroll"><table><caption>{escape(curves.title)}</caption>'
        f"<thead><tr><td>{escape(curves.x_label)}</td>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )
