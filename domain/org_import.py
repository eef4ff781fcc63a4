"""The organisations registry from a district's list: validation and upsert by name.

Reads `.xlsx` workbooks and CSV / text tables (see `domain.org_sources` for encodings and
separators). The header may be the first row or lower down (a title above it); its
column names may be English or Russian, in any letter case and spacing:

| column | English | Russian (and kin) |
|---|---|---|
| name | `name` | «Наименование», «Полное наименование», «Название» |
| short_name | `short_name` | «Краткое наименование», «Сокращённое наименование» |
| kind | `kind` | «Тип», «Вид» (optional: without it the kind is told from the name) |
| head_name | `head_name` | «ФИО руководителя», «Руководитель», «Директор» |
| head_email | `head_email` | «E-mail руководителя», «Эл. почта руководителя», «Email» |
| curator_name | `curator_name` | «ФИО куратора», «Куратор» |
| curator_email | `curator_email` | «E-mail куратора», «Эл. почта куратора» |
| active | `active` | «Действует» (optional: yes/no, да/нет, 1/0; empty means yes) |

Other columns are ignored with a warning. `kind` is school, kindergarten or extra (also
«школа», «ОО», «детский сад», «ДОУ», «доп. образование», «ДО»). With no kind column
the name tells it: СОШ/ООШ/школа/лицей/гимназия is a school, д/с/ДОУ/детский сад a
kindergarten, ДО/ЦДО/ДДТ/ДЮСШ extra education; a name that tells nothing, or two
kinds at once, rejects its row.

Names are matched by a normalised key (`name_key`: letter case, ё/е, spaces, the kind
of quotes and dashes, "№1"/"№ 1" do not matter), both within one file and against the
organisations already in the database; a match takes the file's spelling. An
organisation is retired by importing it with `active` = no (or `roadmap orgs
deactivate`): it gets no new tasks. Rows reject with Russian reasons naming the line,
the column and what to do: empty required cells, bad addresses, control characters,
cells longer than the database keeps.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, col, select

from domain.enums import OrgKind
from domain.org_sources import SourceError, SourceRow, decode_text, read_table, read_text_table
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
# Columns a header must have; without `kind` the kind is told from the name.
HEADER_COLUMNS = tuple(c for c in COLUMNS if c != "kind")

RUSSIAN_COLUMNS = {
    "name": "Наименование",
    "short_name": "Краткое наименование",
    "kind": "Тип",
    "head_name": "ФИО руководителя",
    "head_email": "E-mail руководителя",
    "curator_name": "ФИО куратора",
    "curator_email": "E-mail куратора",
    "active": "Действует",
}

# What the database keeps (domain.organisations) and a sane bound for the rest.
MAX_LENGTHS = {
    "name": 300,
    "short_name": 120,
    "kind": 60,
    "head_name": 200,
    "head_email": 254,
    "curator_name": 200,
    "curator_email": 254,
    "active": 20,
}

_KINDS: dict[str, OrgKind] = {
    "school": OrgKind.school,
    "школа": OrgKind.school,
    "оо": OrgKind.school,
    "общеобразовательная организация": OrgKind.school,
    "общеобразовательное учреждение": OrgKind.school,
    "kindergarten": OrgKind.kindergarten,
    "детский сад": OrgKind.kindergarten,
    "д/с": OrgKind.kindergarten,
    "доу": OrgKind.kindergarten,
    "дошкольная организация": OrgKind.kindergarten,
    "дошкольное учреждение": OrgKind.kindergarten,
    "extra": OrgKind.extra,
    "доп": OrgKind.extra,
    "до": OrgKind.extra,
    "удо": OrgKind.extra,
    "доп образование": OrgKind.extra,
    "дополнительное": OrgKind.extra,
    "дополнительное образование": OrgKind.extra,
    "организация дополнительного образования": OrgKind.extra,
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
    """A rejected row; line 0 is the file as a whole (it cannot be read)."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"строка {self.line}: {self.reason}" if self.line else self.reason


@dataclass
class ParsedOrganisations:
    """What a file gave: valid rows, rejected ones, warnings (ignored columns, a header
    below a title, kinds told from names) and whether nothing at all could be read."""

    rows: list[OrgRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fatal: bool = False
    source: str = ""


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
    """UTF-8 (with or without a BOM), UTF-16 (Excel's "Unicode text"), else Windows-1251."""
    return decode_text(data)[0]


# --- cells -----------------------------------------------------------------------------

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\xad"))
_ALLOWED_CONTROLS = frozenset("\t\n\r")
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _clean(value: str | None) -> str:
    return " ".join((value or "").translate(_INVISIBLE).split())


def _bad_character(value: str) -> str | None:
    """The first control, direction-override or undecodable character, described."""
    for ch in value:
        if ch in _ALLOWED_CONTROLS:
            continue
        if ch == "\ufffd":
            return (
                "нечитаемый символ (U+FFFD): файл не в UTF-8, UTF-16 или Windows-1251, либо "
                "повреждён; сохраните его заново"
            )
        if unicodedata.category(ch) == "Cc" or ch in _BIDI:
            name = "NUL" if ch == "\x00" else f"U+{ord(ch):04X}"
            return f"недопустимый управляющий символ {name}; удалите его или сохраните файл заново"
    return None


def _kind_key(value: str) -> str:
    text = _clean(value).lower().replace("ё", "е").replace(".", " ")
    return " ".join(text.split())


def parse_kind(value: str) -> OrgKind | None:
    return _KINDS.get(_kind_key(value))


def parse_active(value: str) -> bool | None:
    """yes/no, да/нет, 1/0 (true/false, y/n, д/н); empty is yes; anything else None."""
    return _ACTIVE.get(_clean(value).lower())


_WORD = re.compile(r"[a-zа-я0-9]+")
_KINDERGARTEN_PHRASES = re.compile(r"д\s*/\s*с|детск\w*\s+сад|ясли")
_EXTRA_PHRASES = re.compile(
    r"дополнительного\s+образования|детского\s+творчества|спортивн\w*\s+школ|школ\w*\s+искусств"
    r"|музыкальн\w*\s+школ|художественн\w*\s+школ"
)
_SCHOOL_WORDS = frozenset({"сош", "оош", "нош", "сш", "школа", "лицей", "гимназия", "гимназии"})
_EXTRA_WORDS = frozenset({"до", "цдо", "ддт", "дют", "дюсш", "сюн", "сют", "цдт", "дши", "удо"})
_KIND_LABELS = {
    OrgKind.school: "школа",
    OrgKind.kindergarten: "детский сад",
    OrgKind.extra: "доп. образование",
}


def infer_kind(name: str) -> tuple[OrgKind | None, str]:
    """The kind a name tells ("МБОУ СОШ № 1" is a school), else None and why not."""
    text = _clean(name).lower().replace("ё", "е")
    words = set(_WORD.findall(text))
    found: set[OrgKind] = set()
    if _EXTRA_PHRASES.search(text) or words & _EXTRA_WORDS or any(w.endswith("удо") for w in words):
        found.add(OrgKind.extra)
    if _KINDERGARTEN_PHRASES.search(text) or any(w.endswith("доу") for w in words):
        found.add(OrgKind.kindergarten)
    school_words = words & _SCHOOL_WORDS
    # "спортивная школа", "школа искусств" are extra education, not schools.
    if school_words - ({"школа"} if OrgKind.extra in found else set()):
        found.add(OrgKind.school)
    if len(found) == 1:
        return found.pop(), ""
    hint = "добавьте столбец «Тип» (школа, детский сад или доп. образование)"
    if not found:
        return None, f"тип не определить по названию {name!r}; {hint}"
    kinds = " и ".join(_KIND_LABELS[k] for k in OrgKind if k in found)
    return None, f"по названию {name!r} тип не ясен ({kinds}); {hint}"


def _email(value: str, column: str) -> tuple[str, str | None]:
    address = value.removeprefix("mailto:").strip("<> ")
    if re.search(r"[\s,;]", address):
        return value, (
            f"{column}: {value!r} — здесь несколько адресов или пробел; укажите один адрес"
        )
    try:
        return validate_email(address, check_deliverability=False).normalized, None
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


# --- the header ------------------------------------------------------------------------

_EMAIL_WORDS = re.compile(
    r"\b(?:[eе] ?mail|эл почта|электронная почта|адрес электронной почты|адрес эл почты"
    r"|почта|емейл|имейл|мейл)\b"
)
_KIND_HEADERS = frozenset(
    f"{word} {what}".strip()
    for word in ("тип", "вид")
    for what in ("", "оо", "организации", "учреждения", "образовательной организации")
) | {"type", "org kind"}
_NUMBERING = frozenset({"", "п п", "n", "no", "номер", "номер п п", "nn"})


def header_key(text: str) -> str:
    """A header cell as compared: case, spaces (non-breaking too), punctuation and the
    spellings of e-mail do not matter: «Е-mail  руководителя:» -> "email руководителя"."""
    key = text.translate(_INVISIBLE).lower().replace("ё", "е")
    key = " ".join(re.sub(r"[\W_]+", " ", key).split())
    return _EMAIL_WORDS.sub("email", key)


def column_of(text: str) -> str | None:
    """Which of COLUMNS/OPTIONAL_COLUMNS a header cell means, if any."""
    key = header_key(text)
    words = key.split()
    if not words:
        return None
    canonical = key.replace(" ", "_")
    if canonical in (*COLUMNS, *OPTIONAL_COLUMNS):
        return canonical
    curator = any(w.startswith(("куратор", "curator")) for w in words)
    head = any(w.startswith(("руковод", "директор", "head")) for w in words)
    if "email" in words:
        if curator:
            return "curator_email"
        if head or len(words) == 1 or words[1:] in (["оо"], ["организации"]):
            return "head_email"
        return None
    if "фио" in words or len(words) == 1 or words[-1] == "оо":
        if curator and not head:
            return "curator_name"
        if head and not curator:
            return "head_name"
    if curator or head:
        return None
    if key in {"short", "shortname"} or any(w.startswith(("кратк", "сокращ")) for w in words):
        return "short_name"
    if key in _KIND_HEADERS:
        return "kind"
    if key in {"действует", "активна", "активно", "активен", "действующая"}:
        return "active"
    if any(w.startswith(("наименован", "назван")) for w in words) or key in {
        "организация",
        "образовательная организация",
        "оо",
    }:
        return "name"
    return None


@dataclass(frozen=True)
class _Header:
    line: int
    labels: tuple[str, ...]  # the cells as written (cleaned)
    index: dict[str, int]  # column -> position
    duplicates: list[tuple[str, int, int]]  # column, first position, second position


def _header(row: SourceRow) -> _Header:
    labels = tuple(_clean(c) for c in row.cells)
    index: dict[str, int] = {}
    duplicates: list[tuple[str, int, int]] = []
    for position, label in enumerate(labels):
        column = column_of(label)
        if column is None:
            continue
        if column in index:
            duplicates.append((column, index[column], position))
        else:
            index[column] = position
    return _Header(row.line, labels, index, duplicates)


_HEADER_SEARCH_ROWS = 15


def _find_header(rows: Sequence[SourceRow]) -> tuple[int, _Header] | None:
    """The first row (among the first few non-empty ones) naming most of the columns:
    three or more, else as many as any row names; None for a file with no rows."""
    best: tuple[int, _Header] | None = None
    seen = 0
    for position, row in enumerate(rows):
        if not any(c.strip() for c in row.cells):
            continue
        seen += 1
        if seen > _HEADER_SEARCH_ROWS:
            break
        header = _header(row)
        if best is None or len(header.index) > len(best[1].index):
            best = (position, header)
        if len(header.index) >= 3:
            return position, header
    return best


def header_score(rows: Sequence[SourceRow]) -> int:
    """How many of the columns the best header row names (to choose a separator, a sheet)."""
    found = _find_header(rows)
    return len(found[1].index) if found else 0


def _column_label(header: _Header, column: str) -> str:
    label = header.labels[header.index[column]]
    return label if label == column else f"«{label}»"


def _header_hint() -> str:
    english = ",".join(COLUMNS) + " (и по желанию active)"
    russian = ", ".join(f"«{RUSSIAN_COLUMNS[c]}»" for c in COLUMNS)
    return f"{english} или по-русски {russian}"


def _header_problem(header: _Header) -> str | None:
    if header.duplicates:
        column, first, second = header.duplicates[0]
        return (
            f"столбцы «{header.labels[first]}» и «{header.labels[second]}» оба похожи на "
            f"{column} ({RUSSIAN_COLUMNS[column]}); переименуйте или удалите лишний"
        )
    missing = [c for c in HEADER_COLUMNS if c not in header.index]
    if missing:
        russian = ", ".join(f"«{RUSSIAN_COLUMNS[c]}»" for c in missing)
        return (
            "нет столбцов: "
            + ", ".join(missing)
            + f" (по-русски: {russian}); заголовок должен быть: "
            + _header_hint()
        )
    return None


# --- rows ------------------------------------------------------------------------------


def parse_rows(rows: Sequence[SourceRow], source: str = "") -> ParsedOrganisations:
    """Valid rows, rejected ones with their reasons (in Russian) and warnings.

    A header without some of the columns rejects the whole file: no rows, `fatal`, and one
    error on the header's line naming the missing columns.
    """
    result = ParsedOrganisations(source=source)
    found = _find_header(rows)
    if found is None:
        result.fatal = True
        result.errors.append(
            RowError(1, "файл пуст; первой строкой должен быть заголовок: " + _header_hint())
        )
        return result
    position, header = found
    problem = _header_problem(header)
    if problem:
        result.fatal = True
        result.errors.append(RowError(header.line, problem))
        return result
    if header.line > 1:
        result.warnings.append(f"заголовок найден в строке {header.line}; строки над ним пропущены")
    used = set(header.index.values())
    unknown = [
        label
        for i, label in enumerate(header.labels)
        if i not in used and header_key(label) not in _NUMBERING
    ]
    if unknown:
        result.warnings.append(
            "столбцы не используются и пропущены: " + ", ".join(f"«{u}»" for u in unknown)
        )
    infer = "kind" not in header.index
    inferred: dict[OrgKind, int] = {}
    width = len(header.labels)
    seen: dict[str, int] = {}
    for row in rows[position + 1 :]:
        if row.problem:
            result.errors.append(RowError(row.line, row.problem))
            continue
        cells = list(row.cells)
        if not any(c.strip() for c in cells):
            continue
        if tuple(_clean(c) for c in cells[:width]) == header.labels:
            continue  # the header repeated (a list printed page by page)
        if len(cells) < width:
            cells += [""] * (width - len(cells))
        elif len(cells) > width and any(c.strip() for c in cells[width:]):
            result.errors.append(
                RowError(
                    row.line,
                    f"в строке {len(cells)} ячеек, а в заголовке {width} столбцов; "
                    "проверьте разделители и кавычки",
                )
            )
            continue
        parsed = _parse_row(row.line, cells, header, infer, seen)
        if isinstance(parsed, RowError):
            result.errors.append(parsed)
            continue
        result.rows.append(parsed)
        if infer:
            inferred[parsed.kind] = inferred.get(parsed.kind, 0) + 1
    if infer and inferred:
        told = ", ".join(f"{_KIND_LABELS[k]}: {n}" for k, n in inferred.items())
        result.warnings.append(
            f"столбца «Тип» (kind) нет: тип определён по названию ({told}); проверьте его "
            "в `roadmap orgs list`"
        )
    return result


def _parse_row(
    line: int, cells: list[str], header: _Header, infer: bool, seen: dict[str, int]
) -> OrgRow | RowError:
    problems: list[str] = []
    values: dict[str, str] = {}
    for column, i in header.index.items():
        label = _column_label(header, column)
        bad = _bad_character(cells[i])
        if bad:
            problems.append(f"{label}: {bad}")
            values[column] = ""
            continue
        value = _clean(cells[i])
        if len(value) > MAX_LENGTHS[column]:
            problems.append(
                f"{label}: слишком длинное значение ({len(value)} символов, допустимо "
                f"{MAX_LENGTHS[column]}); сократите его"
            )
            value = ""
        values[column] = value
    if problems:
        return RowError(line, "; ".join(problems))
    values.setdefault("curator_name", "")
    values.setdefault("curator_email", "")
    required = [c for c in REQUIRED if not (infer and c == "kind")]
    problems += [
        f"не заполнен столбец {_column_label(header, c)}" for c in required if not values[c]
    ]
    kind: OrgKind | None = None
    if infer:
        if values["name"]:
            kind, why = infer_kind(values["name"])
            if kind is None:
                problems.append(why)
    elif values["kind"]:
        kind = parse_kind(values["kind"])
        if kind is None:
            problems.append(
                f"{_column_label(header, 'kind')}: неизвестный тип {values['kind']!r}; укажите "
                "school, kindergarten или extra (школа, детский сад, доп)"
            )
    active = parse_active(values.get("active", ""))
    if active is None:
        problems.append(
            f"{_column_label(header, 'active')}: {values['active']!r} не распознано; укажите "
            "yes/no, да/нет или 1/0 (пусто — действует)"
        )
    emails: dict[str, str] = {}
    for column in ("head_email", "curator_email"):
        if values[column]:
            emails[column], problem = _email(values[column], _column_label(header, column))
            if problem:
                problems.append(problem)
    if values["curator_name"] and not values["curator_email"]:
        problems.append(
            f"указан {_column_label(header, 'curator_name')}, но не заполнен "
            f"{_column_label(header, 'curator_email')}; укажите адрес куратора или очистите "
            "имя куратора"
        )
    if values["name"]:
        key = name_key(values["name"])
        if key in seen:
            problems.append(
                f"организация {values['name']!r} уже есть в строке {seen[key]}; "
                "оставьте одну из строк"
            )
        else:
            seen[key] = line
    if problems:
        return RowError(line, "; ".join(problems))
    assert kind is not None and active is not None
    return OrgRow(
        line=line,
        name=values["name"],
        short_name=values["short_name"],
        kind=kind,
        head_name=values["head_name"],
        head_email=emails["head_email"],
        curator_name=values["curator_name"],
        curator_email=emails.get("curator_email", ""),
        active=active,
    )


def read_organisations(data: bytes, filename: str) -> ParsedOrganisations:
    """An organisation list from a file's bytes (`.xlsx`, or CSV in any of the encodings);
    a file that cannot be read at all is `fatal` with one error on line 0."""
    try:
        table = read_table(data, filename, header_score)
    except SourceError as exc:
        return ParsedOrganisations(errors=[RowError(0, str(exc))], fatal=True)
    result = parse_rows(table.rows, table.description)
    result.warnings[:0] = table.notes
    return result


def parse_organisations_csv(text: str) -> tuple[list[OrgRow], list[RowError]]:
    """Valid rows and the reasons (in Russian) for rejected ones, from CSV text."""
    result = parse_rows(read_text_table(text, header_score).rows)
    return result.rows, result.errors


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


def find_organisations(orgs: Sequence[Organisation], query: str) -> list[Organisation]:
    """The organisations `query` names: by full name (as `name_key` compares), else by
    short name, else by id ("12" or "#12")."""
    key = name_key(query)
    if not key:
        return []
    by_name = [o for o in orgs if name_key(o.name) == key]
    if by_name:
        return by_name
    by_short = [o for o in orgs if name_key(o.short_name) == key]
    if by_short:
        return by_short
    number = key.removeprefix("#").strip()
    return [o for o in orgs if number.isdigit() and o.id == int(number)]


def set_active(*, session: Session, org: Organisation, active: bool, now: datetime) -> bool:
    """Take an organisation out of new work (or back in); its tasks and answers stay.
    False when it already was so. Does not commit."""
    if org.active == active:
        return False
    org.active = active
    org.updated_at = now
    session.add(org)
    session.flush()
    return True
