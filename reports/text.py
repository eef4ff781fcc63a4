"""Untrusted text stays text in every file we write.

Names, titles, answers and mail errors come from schools, orders and mail servers. Each
format has its own way of turning text into something else, and each writer guards
against it: Markdown escapes its markup (reports.markdown.escape_md), HTML is escaped,
spreadsheet cells starting with "=", "+", "-" or "@" are stored as text (reports.xlsx.put;
the admin CSV prefixes them with "'"). What no writer can store are the control
characters XML forbids (a vertical tab pasted from Word, a NUL from a broken import): the
Word and Excel libraries refuse the whole file for one of them. `printable` drops them
(a vertical tab or form feed becomes a space) and `printable_copy` does it to every
string of a report's data before any format is written.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar

# C0 controls but tab, line feed and carriage return; the non-characters U+FFFE/U+FFFF;
# lone surrogates (text decoded with errors="surrogateescape")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_AS_SPACE = frozenset("\x0b\x0c")

T = TypeVar("T")


def printable(text: str) -> str:
    """`text` without the characters an XML file (docx, xlsx) cannot hold."""
    if _NOT_XML.search(text) is None:
        return text
    return _NOT_XML.sub(lambda m: " " if m.group() in _AS_SPACE else "", text)


def printable_copy(value: T) -> T:
    """`value` with `printable` applied to every plain string inside it: through frozen
    dataclasses, tuples, lists, sets and dicts (keys too, so lookups by a cleaned name
    still find it). Enums, numbers and dates are left as they are; an unchanged value is
    returned as itself."""
    return _clean(value)  # type: ignore[no-any-return]


def _clean(value: Any) -> Any:
    if type(value) is str:
        return printable(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            if not f.init:
                continue
            old = getattr(value, f.name)
            new = _clean(old)
            if new is not old:
                changes[f.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    if type(value) in (tuple, list, set, frozenset):
        items = [_clean(v) for v in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        items = [_clean(v) for v in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(*items)
    if type(value) is dict:
        pairs = [(_clean(k), _clean(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    return value
