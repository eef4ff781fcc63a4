"""Charts for the summary: matplotlib on the Agg canvas, PNG bytes, Russian labels."""

from __future__ import annotations

import io
import textwrap

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from domain.summary import OrganisationSummary, YearlySummary

# DejaVu Sans ships with matplotlib and has Cyrillic.
FONT = {"family": "DejaVu Sans"}
COLOURS = {"on_time": "#2e7d32", "late": "#f9a825", "missing": "#c62828"}


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150, metadata={"Software": None})
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


# Drawn at the width of a portrait A4 page's text (17 cm) so that the document shows
# them at about their own size: 7-8 pt labels stay readable.
WIDTH_IN = 6.7
BAR_IN = 0.22
# Up to this many organisations one chart shows them all; beyond it, the weakest and the
# strongest groups of GROUP each (a 300-organisation district would not fit on a page).
ALL_ORGANISATIONS_UP_TO = 40
GROUP = 15


def _stacked(
    title: str, labels: list[str], on_time: list[int], late: list[int], missing: list[int]
) -> bytes:
    height = max(2.2, BAR_IN * len(labels) + 1.3)
    figure = Figure(figsize=(WIDTH_IN, height), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    left = [0] * len(labels)
    for values, name, colour in (
        (on_time, "Принято в срок", COLOURS["on_time"]),
        (late, "Принято с опозданием", COLOURS["late"]),
        (missing, "Не сдано", COLOURS["missing"]),
    ):
        axes.barh(positions, values, left=left, color=colour, label=name, height=0.7)
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_yticks(positions, labels, fontdict=FONT, fontsize=7)
    axes.tick_params(axis="x", labelsize=7)
    axes.set_ylim(len(labels) - 0.5, -0.5)
    axes.set_xlabel("Заданий", fontdict=FONT, fontsize=8)
    axes.set_title(title, fontdict=FONT, fontsize=9)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.legend(loc="outside lower center", ncols=3, prop={**FONT, "size": 7})
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def completion_by_item_png(summary: YearlySummary) -> bytes:
    """Per item: tasks accepted on time, late, and not submitted (stacked bars)."""
    title = "Исполнение мероприятий"
    items = [item for item in summary.items if item.counts.asked]
    if not items:
        return _empty(title)
    return _stacked(
        title,
        [_label(item.number, item.title, 44) for item in items],
        [item.counts.on_time for item in items],
        [item.counts.late for item in items],
        [item.counts.missing for item in items],
    )


def _orgs_png(title: str, orgs: list[OrganisationSummary]) -> bytes:
    return _stacked(
        title,
        [_label(None, org.short_name, 40) for org in orgs],
        [org.counts.on_time for org in orgs],
        [org.counts.late for org in orgs],
        [org.counts.missing for org in orgs],
    )


def ranked_organisations(summary: YearlySummary) -> list[OrganisationSummary]:
    """Organisations with tasks, best on-time share first (ties: fewer missing, name)."""
    orgs = [org for org in summary.organisations if org.counts.asked]
    return sorted(
        orgs, key=lambda o: (-(o.counts.on_time_share or 0), o.counts.missing, o.short_name)
    )


def completion_by_organisation_png(summary: YearlySummary) -> bytes:
    """Per organisation (all of them): accepted on time, late, not submitted."""
    title = "Исполнение по организациям"
    orgs = [org for org in summary.organisations if org.counts.asked]
    if not orgs:
        return _empty(title)
    return _orgs_png(title, orgs)


def organisation_charts(summary: YearlySummary) -> list[tuple[str, bytes]]:
    """One chart of every organisation, or for a large district the weakest and the
    strongest groups: each chart stays within a page and readable."""
    ranked = ranked_organisations(summary)
    if len(ranked) <= ALL_ORGANISATIONS_UP_TO:
        return [
            (
                "Исполнение по организациям: принято в срок, с опозданием, не сдано",
                completion_by_organisation_png(summary),
            )
        ]
    weakest = list(reversed(ranked[-GROUP:]))
    strongest = ranked[:GROUP]
    return [
        (
            f"{GROUP} организаций с наименьшей долей заданий, принятых в срок (из {len(ranked)})",
            _orgs_png("Наименьшая доля принятых в срок", weakest),
        ),
        (
            f"{GROUP} организаций с наибольшей долей заданий, принятых в срок (из {len(ranked)})",
            _orgs_png("Наибольшая доля принятых в срок", strongest),
        ),
    ]


def all_charts(summary: YearlySummary) -> list[tuple[str, bytes]]:
    """(caption, PNG) for every chart of the summary: the items first, then organisations."""
    return [
        (
            "Исполнение мероприятий: принято в срок, с опозданием, не сдано",
            completion_by_item_png(summary),
        ),
        *organisation_charts(summary),
    ]
