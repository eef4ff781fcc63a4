"""Reading a district's organisation list into rows of text cells: `.xlsx` or a text table.

Text tables come as Excel and other programs save them: UTF-8 with or without a BOM,
UTF-16 with a BOM (Excel's "Unicode text", tab-separated), or Windows-1251; cells
separated by commas, semicolons or tabs. Which separator and (in a workbook) which sheet
is decided by the caller's `score` of a candidate's rows: the one whose header it
recognises best wins. Nothing here knows the columns; `domain.org_import` does.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import PurePath

MAX_ROWS = 5000  # a district has tens of organisations; a bigger file is not a list of them
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "запятая", ";": "точка с запятой", "\t": "табуляция"}


class SourceError(Exception):
    """The file cannot be read at all; the message (Russian) says what to do."""


@dataclass(frozen=True)
class SourceRow:
    """One row: `line` is its line number in the file (its row number in a sheet);
    `problem` is set when the row could not be read (then `cells` is empty)."""

    line: int
    cells: tuple[str, ...]
    problem: str = ""


@dataclass
class Table:
    rows: list[SourceRow]
    description: str  # "Excel (.xlsx), лист «Организации»", "CSV, UTF-16, табуляция"
    notes: list[str] = field(default_factory=list)


Score = Callable[[Sequence[SourceRow]], int]

_XLSX_SUFFIXES = (".xlsx", ".xlsm")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def read_table(data: bytes, filename: str, score: Score) -> Table:
    """The rows of an `.xlsx` workbook or of a CSV / text file, whichever `data` is."""
    suffix = PurePath(filename).suffix.lower()
    if data.startswith(_OLE_MAGIC) or suffix == ".xls":
        raise SourceError(
            "это файл старого формата Excel (.xls); откройте его в Excel и сохраните как "
            "«Книга Excel (.xlsx)» или «CSV UTF-8»"
        )
    if suffix == ".ods":
        raise SourceError("таблицы OpenDocument (.ods) не читаются; сохраните файл как .xlsx")
    if suffix in _XLSX_SUFFIXES or data.startswith(_ZIP_MAGIC):
        return read_xlsx(data, score)
    text, encoding = decode_text(data)
    return read_text_table(text, score, encoding)


# --- text ------------------------------------------------------------------------------


def _looks_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM: Cyrillic and ASCII text has a zero in every other byte."""
    sample = data[:4000]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > len(odd) * 0.3 and even.count(0) < len(even) * 0.05:
        return "utf-16-le"
    if even.count(0) > len(even) * 0.3 and odd.count(0) < len(odd) * 0.05:
        return "utf-16-be"
    return None


def decode_text(data: bytes) -> tuple[str, str]:
    """The text and the name of its encoding.

    A BOM decides (UTF-8, UTF-16); then UTF-16 told by its zero bytes; then valid UTF-8;
    then Windows-1251. A UTF-8 file with a few broken bytes stays UTF-8 (the broken
    characters become U+FFFD and their rows are rejected) rather than turning into
    Windows-1251 gibberish; bytes Windows-1251 lacks become U+FFFD too.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "UTF-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "UTF-16"
    utf16 = _looks_utf16(data)  # first: UTF-16 Cyrillic and ASCII is valid UTF-8 too
    if utf16:
        return data.decode(utf16, errors="replace"), "UTF-16"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    lenient = data.decode("utf-8", errors="replace")
    broken = lenient.count("\ufffd")
    readable = sum(1 for ch in lenient if ord(ch) > 0x7F and ch != "\ufffd")
    if readable > 4 * broken:
        return lenient, "UTF-8"
    return data.decode("cp1251", errors="replace"), "Windows-1251"


def _csv_rows(text: str, delimiter: str) -> list[SourceRow]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[SourceRow] = []
    line = 1
    while True:
        start = line
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line = reader.line_num + 1
            problem = str(exc)
            if "field larger than field limit" in problem:
                problem = "слишком длинная ячейка (больше 128 КБ); проверьте кавычки в строке"
            else:
                problem = f"строка не читается как CSV ({problem}); проверьте кавычки"
            rows.append(SourceRow(start, (), problem))
            continue
        line = reader.line_num + 1
        rows.append(SourceRow(start, tuple(cells)))
        if len(rows) > MAX_ROWS:
            raise SourceError(
                f"в файле больше {MAX_ROWS} строк; это не похоже на список организаций"
            )
    return rows


def read_text_table(text: str, score: Score, encoding: str = "UTF-8") -> Table:
    """The rows split at the delimiter whose header `score` rates best (the one found
    most often in the first line when no header is recognised)."""
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    candidates = [d for d in DELIMITERS if d in text] or [","]
    # Most frequent in the first line first: it wins ties.
    candidates.sort(key=lambda d: -first.count(d))
    best: tuple[int, str, list[SourceRow]] | None = None
    for delimiter in candidates:
        rows = _csv_rows(text, delimiter)
        rating = score(rows)
        if best is None or rating > best[0]:
            best = (rating, delimiter, rows)
    assert best is not None
    _, delimiter, rows = best
    return Table(rows, f"CSV, {encoding}, разделитель — {DELIMITER_NAMES[delimiter]}")


# --- xlsx ------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def read_xlsx(data: bytes, score: Score) -> Table:
    """The rows of the sheet whose header `score` rates best (the first sheet on a tie);
    formulas give their saved values."""
    import openpyxl  # imported here: CSV imports need none of it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise SourceError(
            f"файл не читается как книга Excel (.xlsx): {exc}; откройте его в Excel и "
            "сохраните заново как «Книга Excel (.xlsx)» или «CSV UTF-8»"
        ) from None
    try:
        best: tuple[int, str, list[SourceRow]] | None = None
        for sheet in book.worksheets:
            sheet.reset_dimensions()  # some programs write wrong dimensions
            rows: list[SourceRow] = []
            for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), 1):
                if number > MAX_ROWS:
                    raise SourceError(
                        f"на листе «{sheet.title}» больше {MAX_ROWS} строк; это не похоже на "
                        "список организаций"
                    )
                cells = tuple(_cell_text(v) for v in values)
                while cells and not cells[-1]:
                    cells = cells[:-1]
                rows.append(SourceRow(number, cells))
            rating = score(rows)
            if best is None or rating > best[0]:
                best = (rating, sheet.title, rows)
    finally:
        book.close()
    if best is None:
        raise SourceError("в книге нет листов с данными")
    _, title, rows = best
    notes = []
    if len(book.worksheets) > 1:
        notes.append(f"листов в книге: {len(book.worksheets)}; прочитан лист «{title}»")
    return Table(rows, f"Excel (.xlsx), лист «{title}»", notes)
