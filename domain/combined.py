"""One report for every roadmap of a cycle: each roadmap's own summary (the same
computation as its own report) and the organisations' figures added up across them.

Plain code: no Prefect, no clock (the day is passed in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from zoneinfo import ZoneInfo

from sqlmodel import Session

from domain.cycles import Cycle, first_cycle
from domain.enums import OrgKind
from domain.roadmap import Roadmap
from domain.roadmaps import activation_day, all_roadmaps, tracked_since
from domain.summary import (
    ORG_KIND_LABELS,
    Counts,
    YearlySummary,
    build_summary,
    count_ru,
    format_share_ru,
    roadmap_genitive,
)

ROADMAPS = ("дорожная карта", "дорожные карты", "дорожных карт")


def reports_cycle(roadmap: Roadmap, cycle: Cycle, tz: tzinfo) -> bool:
    """False for a cycle before the roadmap's first one, or one that ended before its
    activation (nothing was tracked then): such a cycle gets no report."""
    activated = activation_day(roadmap, tz)
    return not (
        cycle < first_cycle(roadmap.order_date)
        or (activated is not None and cycle.ends < activated)
    )


@dataclass(frozen=True)
class RoadmapPart:
    key: str
    summary: YearlySummary


@dataclass(frozen=True)
class CombinedOrganisation:
    organisation_id: int
    name: str
    short_name: str
    kind: OrgKind
    roadmaps: int  # how many of the roadmaps gave it tasks
    counts: Counts  # its tasks of every roadmap, added up

    @property
    def kind_label(self) -> str:
        return ORG_KIND_LABELS.get(self.kind, str(self.kind))


@dataclass(frozen=True)
class CombinedSummary:
    cycle: str
    as_of: date
    district: str
    parts: tuple[RoadmapPart, ...]
    organisations: tuple[CombinedOrganisation, ...]
    counts: Counts  # every organisation task of every roadmap

    @property
    def interim(self) -> bool:
        return any(p.summary.interim for p in self.parts)

    @property
    def title(self) -> str:
        head = (
            "Промежуточная сводная аналитическая справка"
            if self.interim
            else "Сводная аналитическая справка"
        )
        tail = f" (на дату {self.as_of:%d.%m.%Y})" if self.interim else ""
        return f"{head} о реализации дорожных карт в {self.cycle} учебном году{tail}"

    @property
    def roadmap_names(self) -> tuple[str, ...]:
        """Each roadmap as the title block names it: «title» (приказ …)."""
        names = []
        for part in self.parts:
            s = part.summary
            order = f" (приказ {s.roadmap_order})" if s.roadmap_order else ""
            names.append(f"{s.roadmap_title or part.key}{order}")
        return tuple(names)

    @property
    def text(self) -> tuple[str, ...]:
        """The year in a few sentences, from the same figures as the tables."""
        c = self.counts
        involved = sum(1 for o in self.organisations if o.counts.asked)
        lines = [
            f"В {self.cycle} учебном году отслеживались {count_ru(len(self.parts), ROADMAPS)}; "
            f"организациям выдано заданий: {c.asked} (организаций с заданиями — {involved}). "
            f"Принято в срок {c.on_time} ({format_share_ru(c.on_time_share)}), принято с "
            f"опозданием {c.late}, не сдано {c.missing}."
        ]
        for part in self.parts:
            p = part.summary.counts
            lines.append(
                f"По {roadmap_genitive(part.summary.roadmap_title or part.key)}: заданий "
                f"{p.asked}, принято в срок {p.on_time} ({format_share_ru(p.on_time_share)}), "
                f"принято с опозданием {p.late}, не сдано {p.missing}."
            )
        several = [o for o in self.organisations if o.roadmaps > 1 and o.counts.asked]
        if several:
            lines.append(
                f"Организаций с заданиями нескольких дорожных карт — {len(several)}; "
                "их итоги по всем картам — в таблице организаций."
            )
        return tuple(lines)


def combine(parts: list[RoadmapPart], *, cycle: str, as_of: date) -> CombinedSummary:
    """The parts side by side and their organisations added up (by organisation)."""
    by_org: dict[int, list[tuple[str, Counts]]] = {}
    first: dict[int, tuple[str, str, OrgKind]] = {}
    for part in parts:
        for org in part.summary.organisations:
            if not org.counts.asked:
                continue
            by_org.setdefault(org.organisation_id, []).append((part.key, org.counts))
            first.setdefault(org.organisation_id, (org.name, org.short_name, org.kind))
    organisations = tuple(
        sorted(
            (
                CombinedOrganisation(
                    organisation_id=org_id,
                    name=first[org_id][0],
                    short_name=first[org_id][1],
                    kind=first[org_id][2],
                    roadmaps=len({key for key, _ in entries}),
                    counts=Counts.total(c for _, c in entries),
                )
                for org_id, entries in by_org.items()
            ),
            key=lambda o: (-(o.counts.on_time_share or 0.0), o.short_name),
        )
    )
    district = next((p.summary.district for p in parts if p.summary.district), "")
    return CombinedSummary(
        cycle=cycle,
        as_of=as_of,
        district=district,
        parts=tuple(parts),
        organisations=organisations,
        counts=Counts.total(p.summary.counts for p in parts),
    )


def build_combined(
    *, session: Session, cycle: Cycle, as_of: date, tz: ZoneInfo, keys: list[str] | None = None
) -> CombinedSummary:
    """Every roadmap (or those of `keys`) that reports `cycle`, each summarised as its
    own report would be, then combined."""
    parts: list[RoadmapPart] = []
    for roadmap in all_roadmaps(session):
        if keys is not None and roadmap.key not in keys:
            continue
        if not reports_cycle(roadmap, cycle, tz):
            continue
        period_start = cycle.span(roadmap.order_date)[0]
        day = max(as_of, period_start)
        summary = build_summary(
            session=session,
            cycle=cycle,
            roadmap_start=roadmap.order_date,
            as_of=day,
            tz=tz,
            roadmap_id=roadmap.id,
            tracked_since=tracked_since(roadmap, period_start, tz),
        )
        parts.append(RoadmapPart(roadmap.key, summary))
    return combine(parts, cycle=cycle.name, as_of=as_of)
