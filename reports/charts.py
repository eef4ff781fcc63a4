"""Charts for the summary: matplotlib on the Agg canvas, PNG bytes, Russian labels."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from domain.summary import Counts, OrganisationSummary, YearlySummary, organisations_by_share

# DejaVu Sans ships with matplotlib and has Cyrillic.
FONT = {"family": "DejaVu Sans"}
COLOURS = {
    "on_time": "#2e7d32",
    "late": "#f9a825",
    "missing": "#c62828",
    "in_progress": "#9e9e9e",
}


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
BAR_IN = 0.18
# Up to this many organisations one chart shows them all; beyond it, the weakest and the
# strongest groups of GROUP each (a 300-organisation district would not fit on a page).
ALL_ORGANISATIONS_UP_TO = 40
GROUP = 15


def _stacked(title: str, labels: list[str], counts: list[Counts]) -> bytes:
    """Horizontal stacked bars: accepted on time, late, overdue and (when any task's
    due date has not come yet) in progress."""
    height = max(2.2, BAR_IN * len(labels) + 1.3)
    figure = Figure(figsize=(WIDTH_IN, height), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    left = [0] * len(labels)
    series = [
        ([c.on_time for c in counts], "Принято в срок", COLOURS["on_time"]),
        ([c.late for c in counts], "Принято с опозданием", COLOURS["late"]),
        ([c.overdue for c in counts], "Не сдано (просрочено)", COLOURS["missing"]),
    ]
    if any(c.in_progress for c in counts):
        series.append(([c.in_progress for c in counts], "В работе", COLOURS["in_progress"]))
    for values, name, colour in series:
        axes.barh(positions, values, left=left, color=colour, label=name, height=0.7)
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_yticks(positions, labels, fontdict=FONT, fontsize=7)
    axes.tick_params(axis="x", labelsize=7)
    axes.set_ylim(len(labels) - 0.5, -0.5)
    axes.set_xlabel("Заданий", fontdict=FONT, fontsize=8)
    axes.set_title(title, fontdict=FONT, fontsize=9)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.legend(loc="outside lower center", ncols=len(series), prop={**FONT, "size": 7})
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def completion_by_item_png(summary: YearlySummary) -> bytes:
    """Per item: tasks accepted on time, late, overdue, in progress (stacked bars)."""
    title = "Исполнение мероприятий"
    items = [item for item in summary.items if item.counts.asked]
    if not items:
        return _empty(title)
    return _stacked(
        title,
        [_label(item.number, item.title, 44) for item in items],
        [item.counts for item in items],
    )


def _orgs_png(title: str, orgs: Sequence[OrganisationSummary]) -> bytes:
    return _stacked(
        title, [_label(None, org.short_name, 40) for org in orgs], [org.counts for org in orgs]
    )


def organisations_with_tasks(summary: YearlySummary) -> list[OrganisationSummary]:
    """Organisations with tasks, the best share accepted on time first (the order of
    `domain.summary.organisations_by_share`), then those with nothing fallen due yet."""
    ranked = list(organisations_by_share(summary))
    shown = {o.organisation_id for o in ranked}
    rest = [o for o in summary.organisations if o.counts.asked and o.organisation_id not in shown]
    return ranked + rest


def weakest_organisations(summary: YearlySummary) -> list[OrganisationSummary]:
    """The GROUP organisations with the smallest share accepted on time, weakest first."""
    return list(organisations_by_share(summary, weakest_first=True)[:GROUP])


def completion_by_organisation_png(summary: YearlySummary) -> bytes:
    """Per organisation (all of them, best first): accepted on time, late, not submitted."""
    title = "Исполнение по организациям"
    orgs = organisations_with_tasks(summary)
    if not orgs:
        return _empty(title)
    return _orgs_png(title, orgs)


def organisation_charts(summary: YearlySummary) -> list[tuple[str, bytes]]:
    """One chart of every organisation, or for a large district the weakest and the
    strongest groups: each chart stays within a page and readable."""
    orgs = organisations_with_tasks(summary)
    if len(orgs) <= ALL_ORGANISATIONS_UP_TO:
        return [
            (
                "Исполнение по организациям (по убыванию доли принятых в срок)",
                completion_by_organisation_png(summary),
            )
        ]
    ranked = organisations_by_share(summary)
    if not ranked:
        return []  # nothing has fallen due: no one to rank
    strongest = ranked[:GROUP]
    return [
        (
            f"{GROUP} организаций с наименьшей долей заданий, принятых в срок (из {len(ranked)})",
            _orgs_png("Наименьшая доля принятых в срок", weakest_organisations(summary)),
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
