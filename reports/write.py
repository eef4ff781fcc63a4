"""Writing the summary to files in any of the four formats."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

from domain.summary import YearlySummary
from reports.text import printable_copy

Format = Literal["md", "html", "docx", "xlsx"]
FORMATS: tuple[Format, ...] = get_args(Format)

SUFFIXES: dict[str, Format] = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
    ".xlsx": "xlsx",
}


def format_for(path: Path) -> Format | None:
    """The format a file name's extension asks for, or None when it names none we write."""
    return SUFFIXES.get(path.suffix.lower())


Charts = list[tuple[str, bytes]]


def render(summary: YearlySummary, fmt: Format, charts: Charts | None = None) -> bytes:
    """The summary in format `fmt`, as the bytes of the file; `charts` (caption, PNG)
    default to the summary's standard charts, drawn on demand. Its text is made
    printable first (reports.text): one control character never spoils a file."""
    return _render(printable_copy(summary), fmt, charts)


def _render(summary: YearlySummary, fmt: Format, charts: Charts | None) -> bytes:
    if fmt == "md":
        from reports.markdown import render_markdown

        return render_markdown(summary).encode("utf-8")
    if fmt == "html":
        from reports.html import render_html

        return render_html(summary, charts).encode("utf-8")
    if fmt == "docx":
        from reports.docx import build_docx

        return build_docx(summary, charts)
    if fmt == "xlsx":
        from reports.xlsx import build_xlsx

        return build_xlsx(summary)
    raise ValueError(f"unknown summary format {fmt!r}; use one of {', '.join(FORMATS)}")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_file(path: Path, data: bytes) -> Path:
    """Rendered bytes to `path` (folders created; replaced atomically)."""
    _write_atomically(path, data)
    return path


def write_summary(
    summary: YearlySummary, fmt: Format, path: Path, *, charts: Charts | None = None
) -> Path:
    """Write the summary as `fmt` to `path` (folders created; replaced atomically)."""
    _write_atomically(path, render(summary, fmt, charts))
    return path


def render_all(summary: YearlySummary) -> dict[Format, bytes]:
    """All four formats from one computation, as bytes: {format: file's bytes}."""
    from reports.charts import all_charts

    summary = printable_copy(summary)
    charts = all_charts(summary)  # drawn once for the HTML page and the Word document
    return {fmt: _render(summary, fmt, charts) for fmt in FORMATS}


def write_files(files: Mapping[str, bytes], directory: Path, stem: str) -> dict[str, Path]:
    """Rendered formats into `directory` as `<stem>.<fmt>`; returns {format: path}."""
    written: dict[str, Path] = {}
    for fmt, data in files.items():
        path = directory / f"{stem}.{fmt}"
        _write_atomically(path, data)
        written[fmt] = path
    return written


def write_all(
    summary: YearlySummary, directory: Path, stem: str = "summary-2022-2023"
) -> dict[str, Path]:
    """All four formats into `directory` as `<stem>.<fmt>`; returns {format: path}."""
    rendered: dict[str, bytes] = {str(fmt): data for fmt, data in render_all(summary).items()}
    return write_files(rendered, directory, stem)
