"""Charts for the summary: matplotlib on the Agg canvas, PNG bytes, Russian labels."""

from __future__ import annotations

import io
import textwrap

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from domain.summary import YearlySummary

# DejaVu Sans ships with matplotlib and has Cyrillic.
FONT = {"family": "DejaVu Sans"}
COLOURS = {"on_time": "#2e7d32", "late": "#f9a825", "missing": "#c62828"}


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
    return buffer.getvalue()


def _empty(title: str) -> bytes:
    figure = Figure(figsize=(8, 2), layout="constrained")
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.set_title(title, fontdict=FONT)
    axes.text(0.5, 0.5, "Нет данных", ha="center", va="center", fontdict=FONT, fontsize=14)
    return _png(figure)


def _label(number: int | None, title: str, width: int = 38) -> str:
    # A "$" would start matplotlib's mathtext; names are data, shown as they are.
    short = textwrap.shorten(title, width=width, placeholder="…").replace("$", r"\$")
    return f"{number}. {short}" if number is not None else short


def _stacked(
    title: str, labels: list[str], on_time: list[int], late: list[int], missing: list[int]
) -> bytes:
    height = max(2.5, 0.45 * len(labels) + 1.4)
    figure = Figure(figsize=(9, height), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    left = [0] * len(labels)
    for values, name, colour in (
        (on_time, "В срок", COLOURS["on_time"]),
        (late, "С опозданием", COLOURS["late"]),
        (missing, "Не выполнено", COLOURS["missing"]),
    ):
        axes.barh(positions, values, left=left, color=colour, label=name)
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_yticks(positions, labels, fontdict=FONT, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("Заданий", fontdict=FONT)
    axes.set_title(title, fontdict=FONT)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.legend(loc="outside lower center", ncols=3, prop={**FONT, "size": 8})
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def completion_by_item_png(summary: YearlySummary) -> bytes:
    """Per item: tasks done on time, late, and not done (stacked bars)."""
    title = "Исполнение мероприятий"
    items = [item for item in summary.items if item.counts.asked]
    if not items:
        return _empty(title)
    return _stacked(
        title,
        [_label(item.number, item.title) for item in items],
        [item.counts.on_time for item in items],
        [item.counts.late for item in items],
        [item.counts.missing for item in items],
    )


def completion_by_organisation_png(summary: YearlySummary) -> bytes:
    """Per organisation: tasks done on time, late, and not done (stacked bars)."""
    title = "Исполнение по организациям"
    orgs = [org for org in summary.organisations if org.counts.asked]
    if not orgs:
        return _empty(title)
    return _stacked(
        title,
        [_label(None, org.short_name) for org in orgs],
        [org.counts.on_time for org in orgs],
        [org.counts.late for org in orgs],
        [org.counts.missing for org in orgs],
    )


def all_charts(summary: YearlySummary) -> list[tuple[str, bytes]]:
    """(caption, PNG) for every chart of the summary."""
    return [
        (
            "Исполнение мероприятий: в срок, с опозданием, не выполнено",
            completion_by_item_png(summary),
        ),
        (
            "Исполнение по организациям: в срок, с опозданием, не выполнено",
            completion_by_organisation_png(summary),
        ),
    ]
