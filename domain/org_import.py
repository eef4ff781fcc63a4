"""The organisations registry from a CSV file: validation and upsert by name.

Columns: `name,short_name,kind,head_name,head_email,curator_name,curator_email`
(`curator_name` and `curator_email` may be empty), and optionally `active`
(yes/no, да/нет, 1/0; empty or absent means yes). `kind` is school, kindergarten
or extra (Russian "школа", "детский сад"/"ДОУ", "доп"/"дополнительное" too).
Excel exports are welcome: UTF-8 with a BOM or Windows-1251, "," or ";" delimiters.

Names are matched by a normalised key (`name_key`: letter case, ё/е, spaces, the kind
of quotes and dashes, "№1"/"№ 1" do not matter), both within one file and against the
organisations already in the database; a match takes the file's spelling. An
organisation is retired by importing it with `active` = no: it gets no new tasks.
Rows reject with Russian reasons naming the column and what to do.
"""

from __future__ import annotations

import csv
import io
import re
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
OPTIONAL_COLUMNS = ("active",)
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

_ACTIVE: dict[str, bool] = {
    "": True,
    "yes": True,
    "y": True,
    "true": True,
    "1": True,
    "да": True,
    "д": True,
    "no": False,
    "n": False,
    "false": False,
    "0": False,
    "нет": False,
    "н": False,
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
    active: bool = True


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"строка {self.line}: {self.reason}"


OUTCOMES = ("created", "updated", "unchanged", "deactivated", "reactivated", "absent")


@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0  # includes renamed, deactivated and reactivated organisations
    unchanged: int = 0
    rejected: int = 0
    # outcome -> organisation names; "deactivated"/"reactivated" are the updated ones whose
    # `active` flipped, "absent" the active organisations the rows did not mention.
    names: dict[str, list[str]] = field(default_factory=dict)

    @property
    def deactivated(self) -> int:
        return len(self.names.get("deactivated", []))


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


def parse_active(value: str) -> bool | None:
    """yes/no, да/нет, 1/0 (true/false, y/n, д/н); empty is yes; anything else None."""
    return _ACTIVE.get(_clean(value).lower())


def _email(value: str, column: str) -> tuple[str, str | None]:
    try:
        return validate_email(value, check_deliverability=False).normalized, None
    except EmailNotValidError:
        return value, (
            f"{column}: {value!r} — неверный адрес электронной почты; укажите адрес вида имя@домен"
        )


_QUOTES_AND_DASHES = str.maketrans(
    {**{c: '"' for c in "«»„“”‟‘’‚‛'`"}, **{c: "-" for c in "‐‑‒–—―−"}}
)
_AROUND_QUOTE = re.compile(r'\s*"\s*')
_NUMBER_SIGN = re.compile(r"№\s*")


def name_key(name: str) -> str:
    """The name as compared: "МКДОУ д/с №2 «Ромашка»" ~ 'мкдоу  Д/С № 2 "ромашка"'."""
    text = _clean(name).lower().replace("ё", "е").translate(_QUOTES_AND_DASHES)
    text = _AROUND_QUOTE.sub('"', text)
    return _NUMBER_SIGN.sub("№ ", text).strip()


def parse_organisations_csv(text: str) -> tuple[list[OrgRow], list[RowError]]:
    """Valid rows and the reasons (in Russian) for rejected ones.

    A header without some of the columns rejects the whole file: no rows and one
    error on line 1 naming the missing columns.
    """
    text = text.lstrip("\ufeff")
    header_hint = ",".join(COLUMNS) + " (и по желанию active)"
    if not text.strip():
        return [], [RowError(1, "файл пуст; первой строкой должен быть заголовок: " + header_hint)]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    header = [_clean(h).lower() for h in next(reader)]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [
            RowError(
                1,
                "нет столбцов: " + ", ".join(missing) + "; заголовок должен быть: " + header_hint,
            )
        ]
    index = {name: header.index(name) for name in (*COLUMNS, *OPTIONAL_COLUMNS) if name in header}
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
                RowError(
                    start,
                    f"в строке {len(cells)} ячеек, а в заголовке {len(header)} столбцов; "
                    "проверьте разделители и кавычки",
                )
            )
            continue
        values = {name: _clean(cells[i]) for name, i in index.items()}
        problems = [f"не заполнен столбец {c}" for c in REQUIRED if not values[c]]
        kind = parse_kind(values["kind"]) if values["kind"] else None
        if values["kind"] and kind is None:
            problems.append(
                f"kind: неизвестный тип {values['kind']!r}; укажите school, kindergarten "
                "или extra (школа, детский сад, доп)"
            )
        active = parse_active(values.get("active", ""))
        if active is None:
            problems.append(
                f"active: {values['active']!r} не распознано; укажите yes/no, да/нет или 1/0 "
                "(пусто — действует)"
            )
        emails: dict[str, str] = {}
        for column in ("head_email", "curator_email"):
            if values[column]:
                emails[column], problem = _email(values[column], column)
                if problem:
                    problems.append(problem)
        if values["curator_name"] and not values["curator_email"]:
            problems.append(
                "указан curator_name, но не заполнен curator_email; укажите адрес куратора "
                "или очистите curator_name"
            )
        if values["name"]:
            key = name_key(values["name"])
            if key in seen:
                problems.append(
                    f"организация {values['name']!r} уже есть в строке {seen[key]}; "
                    "оставьте одну из строк"
                )
            else:
                seen[key] = start
        if problems:
            errors.append(RowError(start, "; ".join(problems)))
            continue
        assert kind is not None and active is not None
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
                active=active,
            )
        )
    return rows, errors


_FIELDS = (
    "name",
    "short_name",
    "kind",
    "head_name",
    "head_email",
    "curator_name",
    "curator_email",
    "active",
)


def upsert_organisations(*, session: Session, rows: list[OrgRow], now: datetime) -> ImportCounts:
    """Create the organisations that are new by `name_key` and update the changed ones
    (`updated_at = now`), taking the rows' spelling of the name. When several stored
    organisations share a key, the one with exactly the row's name wins, else the oldest.
    Does not commit."""
    counts = ImportCounts(names={outcome: [] for outcome in OUTCOMES})
    by_key: dict[str, list[Organisation]] = {}
    for org in session.exec(select(Organisation).order_by(col(Organisation.id))):
        by_key.setdefault(name_key(org.name), []).append(org)
    mentioned: set[int] = set()
    for row in rows:
        key = name_key(row.name)
        candidates = by_key.get(key, [])
        exact = [o for o in candidates if o.name == row.name]
        found = exact or candidates
        if not found:
            org = Organisation(
                name=row.name,
                short_name=row.short_name,
                kind=row.kind,
                head_name=row.head_name,
                head_email=row.head_email,
                curator_name=row.curator_name,
                curator_email=row.curator_email,
                active=row.active,
                updated_at=now,
            )
            session.add(org)
            by_key[key] = [org]
            counts.created += 1
            counts.names["created"].append(row.name)
            continue
        org = found[0]
        if org.id is not None:
            mentioned.add(org.id)
        was_active = org.active
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
            if was_active and not org.active:
                counts.names["deactivated"].append(row.name)
            elif org.active and not was_active:
                counts.names["reactivated"].append(row.name)
        else:
            counts.unchanged += 1
            counts.names["unchanged"].append(row.name)
    counts.names["absent"] = [
        org.name
        for orgs in by_key.values()
        for org in orgs
        if org.active and org.id is not None and org.id not in mentioned
    ]
    session.flush()
    return counts
