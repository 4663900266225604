"""Charts of the report: the matplotlib figure in the report's style and its inline SVG.
A leaf the kinds' report sections use (they draw their own charts)."""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
import re
from typing import Any

from monitor.report.format import fmt_num


@dataclasses.dataclass(frozen=True, slots=True)
class Chart:
    id: str
    caption: str
    svg: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def svg(fig: Any, chart_id: str, caption_id: str) -> str:
    """The figure as inline SVG: ids made unique per chart, named by its caption."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'id="([^"]+)"', lambda m: f'id="{chart_id}-{m.group(1)}"', text)
    text = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{chart_id}-{m.group(1)})", text)
    text = re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{chart_id}-{m.group(1)}"', text)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    return text.replace("<svg ", f'<svg role="img" aria-labelledby="{caption_id}" focusable="false" ', 1)


def figure(width: float = 7.5, height: float = 2.6) -> Any:
    """A new matplotlib figure in the report's style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 8,
                         "svg.hashsalt": "egov-monitor", "axes.spines.top": False, "axes.spines.right": False})
    return plt.subplots(figsize=(width, height))


COLORS = ("#0b5394", "#b45f06", "#38761d", "#741b47")  # dark enough for 3:1 against white (WCAG 1.4.11)


def german_axis(ax: Any, unit: str = " %") -> None:
    """The y axis in plain German numbers (99,995 %): no offset or scientific notation, as
    many decimals as the tick spacing needs."""
    low, high = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if low - 1e-9 <= t <= high + 1e-9]
    steps = [b - a for a, b in itertools.pairwise(ticks) if b > a]
    digits = max(0, min(6, math.ceil(-math.log10(min(steps)) - 1e-9))) if steps else 0
    ax.set_yticks(ticks, [fmt_num(t, digits) + unit for t in ticks])
    ax.set_ylim(low, high)
