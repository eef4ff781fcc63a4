"""The organisations registry from a CSV file: validation and upsert by name.

Columns: `name,short_name,kind,head_name,head_email,curator_name,curator_email`
(`curator_name` and `curator_email` may be empty). `kind` is school, kindergarten
or extra (Russian "школа", "детский сад"/"ДОУ", "доп"/"дополнительное" too).
Excel exports are welcome: UTF-8 with a BOM or Windows-1251, "," or ";" delimiters.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, col, select

from domain.enums import OrgKind
from domain.organisations import Organisation

COLUMNS = (
    "name",
    "short_name",
    "kind",
    "head_name",
    "head_email",
    "curator_name",
    "curator_email",
)
REQUIRED = ("name", "short_name", "kind", "head_name", "head_email")

_KINDS: dict[str, OrgKind] = {
    "school": OrgKind.school,
    "школа": OrgKind.school,
    "kindergarten": OrgKind.kindergarten,
    "детский сад": OrgKind.kindergarten,
    "доу": OrgKind.kindergarten,
    "extra": OrgKind.extra,
    "доп": OrgKind.extra,
    "до": OrgKind.extra,
    "дополнительное": OrgKind.extra,
    "дополнительное образование": OrgKind.extra,
}


@dataclass(frozen=True)
class OrgRow:
    """One valid row; `line` is its line number in the file."""

    line: int
    name: str
    short_name: str
    kind: OrgKind
    head_name: str
    head_email: str
    curator_name: str = ""
    curator_email: str = ""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    names: dict[str, list[str]] = field(default_factory=dict)  # outcome -> organisation names


def decode_csv_bytes(data: bytes) -> str:
    """UTF-8 (with or without a BOM), else Windows-1251 as older Excel writes it."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1251")


def sniff_delimiter(text: str) -> str:
    """`;` when the header line has more semicolons than commas (Russian Excel), else `,`."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ","


def _clean(value: str | None) -> str:
    return " ".join((value or "").split())


def parse_kind(value: str) -> OrgKind | None:
    return _KINDS.get(_clean(value).lower().replace("ё", "е"))


def _email(value: str, column: str) -> tuple[str, str | None]:
    try:
        return validate_email(value, check_deliverability=False).normalized, None
    except EmailNotValidError as exc:
        return value, f"{column} {value!r} is not a valid email address: {exc}"


def _name_key(name: str) -> str:
    return _clean(name).lower().replace("ё", "е")


def parse_organisations_csv(text: str) -> tuple[list[OrgRow], list[RowError]]:
    """Valid rows and the reasons for rejected ones.

    A header without some of the columns rejects the whole file: no rows and one
    error on line 1 naming the missing columns.
    """
    text = text.lstrip("\ufeff")
    if not text.strip():
        return [], [RowError(1, "the file is empty; expected a header: " + ",".join(COLUMNS))]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    header = [_clean(h).lower() for h in next(reader)]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [
            RowError(
                1,
                "missing columns: " + ", ".join(missing) + "; the header must be: "
                "" + ",".join(COLUMNS),
            )
        ]
    index = {name: header.index(name) for name in COLUMNS}
    rows: list[OrgRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    line = reader.line_num + 1
    for cells in reader:
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) < len(header):
            cells = cells + [""] * (len(header) - len(cells))
        elif len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            errors.append(
                RowError(start, f"{len(cells)} cells, but the header has {len(header)} columns")
            )
            continue
        values = {name: _clean(cells[i]) for name, i in index.items()}
        problems = [f"{c} is empty" for c in REQUIRED if not values[c]]
        kind = parse_kind(values["kind"]) if values["kind"] else None
        if values["kind"] and kind is None:
            problems.append(
                f"kind {values['kind']!r} is unknown; use school, kindergarten or extra"
            )
        emails: dict[str, str] = {}
        for column in ("head_email", "curator_email"):
            if values[column]:
                emails[column], problem = _email(values[column], column)
                if problem:
                    problems.append(problem)
        if values["curator_name"] and not values["curator_email"]:
            problems.append("curator_email is empty but curator_name is given")
        if values["name"]:
            key = _name_key(values["name"])
            if key in seen:
                problems.append(f"duplicate name {values['name']!r} (first on line {seen[key]})")
            else:
                seen[key] = start
        if problems:
            errors.append(RowError(start, "; ".join(problems)))
            continue
        assert kind is not None
        rows.append(
            OrgRow(
                line=start,
                name=values["name"],
                short_name=values["short_name"],
                kind=kind,
                head_name=values["head_name"],
                head_email=emails["head_email"],
                curator_name=values["curator_name"],
                curator_email=emails.get("curator_email", ""),
            )
        )
    return rows, errors


_FIELDS = ("short_name", "kind", "head_name", "head_email", "curator_name", "curator_email")


def upsert_organisations(*, session: Session, rows: list[OrgRow], now: datetime) -> ImportCounts:
    """Create the organisations that are new by name and update the changed ones
    (`updated_at = now`). Does not commit."""
    counts = ImportCounts(names={"created": [], "updated": [], "unchanged": []})
    names = [r.name for r in rows]
    existing = {
        org.name: org
        for org in session.exec(select(Organisation).where(col(Organisation.name).in_(names)))
    }
    for row in rows:
        org = existing.get(row.name)
        if org is None:
            org = Organisation(
                name=row.name,
                short_name=row.short_name,
                kind=row.kind,
                head_name=row.head_name,
                head_email=row.head_email,
                curator_name=row.curator_name,
                curator_email=row.curator_email,
                updated_at=now,
            )
            session.add(org)
            existing[row.name] = org
            counts.created += 1
            counts.names["created"].append(row.name)
            continue
        changed = False
        for name in _FIELDS:
            value = getattr(row, name)
            if getattr(org, name) != value:
                setattr(org, name, value)
                changed = True
        if changed:
            org.updated_at = now
            session.add(org)
            counts.updated += 1
            counts.names["updated"].append(row.name)
        else:
            counts.unchanged += 1
            counts.names["unchanged"].append(row.name)
    session.flush()
    return counts
