"""Tokens of a Russian schedule phrase.

Normalisation: Unicode NFC, lower case, `ё` → `е`, every dash → `-`, any space (NBSP,
thin space) → a space, footnote marks (`*`, `†`, superscript digits, an unmatched `1)`)
removed, quotes dropped, `…` read as a full stop and square brackets as parentheses.
Each token keeps its place in the original text so that notes are quoted as written.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from domain.schedule_rules import ScheduleParseError

_SUPERSCRIPTS = set("⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁺")
_FOOTNOTE_MARKS = set("*†‡")
_DASHES = set("‐‑‒–—―−﹘﹣－-")
_QUOTES = set("«»\"'“”„‟‘’`")


@dataclass
class Token:
    kind: str  # "num" "date" "dm" "time" "word" "punct"
    text: str  # normalised text
    start: int  # offsets into the original phrase
    end: int
    value: tuple[int, ...] = field(default=())
    digits: int = 0


def _normalise(text: str) -> tuple[str, list[int]]:
    """The normalised phrase and, for each of its characters, the original offset."""
    out: list[str] = []
    origin: list[int] = []
    depth = 0
    for index, raw in enumerate(text):
        ch = unicodedata.normalize("NFC", raw)
        if len(ch) != 1:
            ch = raw
        if ch in _SUPERSCRIPTS or ch in _FOOTNOTE_MARKS or ch in _QUOTES:
            continue
        if ch in _DASHES:
            ch = "-"
        elif ch == "…":
            ch = "."
        elif ch in "[]":
            ch = "(" if ch == "[" else ")"
        elif unicodedata.category(ch) in ("Zs", "Cc") or ch in "\u200b\ufeff":
            ch = " "
        elif ch in "іІ":  # a Cyrillic і typed for a Roman I
            ch = "i"
        ch = ch.lower()
        if ch == "ё":
            ch = "е"
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                # An unmatched ")" is a footnote mark such as "1)": drop it and its number.
                digits = 0
                while out and out[-1].isdigit() and digits < 2:
                    out.pop()
                    origin.pop()
                    digits += 1
                continue
            depth -= 1
        out.append(ch)
        origin.append(index)
    return "".join(out), origin


_TOKEN_RE = re.compile(
    r"(?P<date>\d{1,2}\.\d{1,2}\.\d{2,4})(?![\d])"
    r"|(?P<time>\d{1,2}:\d{2})(?![\d])"
    r"|(?P<dm>\d{1,2}\.\d{1,2})(?![\d])"
    r"|(?P<num>\d+)(?:-(?:й|го|ого|ий|ый|ой|ом|м|е|я|ое|ая|ую))?(?![\d])"
    r"|(?P<word>[a-zа-я]+)"
    r"|(?P<punct>[,;()\-/.:№])"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    re.DOTALL,
)


def tokenize(text: str) -> list[Token]:
    norm, origin = _normalise(text)
    tokens: list[Token] = []
    for match in _TOKEN_RE.finditer(norm):
        kind = match.lastgroup or "other"
        if kind == "space":
            continue
        s, e = match.span()
        start, end = origin[s], origin[e - 1] + 1
        piece = match.group()
        if kind == "other":
            raise ScheduleParseError(f"не удалось прочитать символ «{text[start:end]}»")
        token = Token(kind=kind, text=piece, start=start, end=end)
        if kind in ("date", "dm", "time"):
            token.value = tuple(int(p) for p in re.split(r"[.:]", piece))
        elif kind == "num":
            number = match.group("num")
            token.value = (int(number),)
            token.digits = len(number)
        tokens.append(token)
    return tokens
