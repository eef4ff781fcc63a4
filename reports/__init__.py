"""The yearly summary's renderings: Markdown, HTML, Word, Excel, and charts."""

from reports.write import FORMATS, Format, format_for, render, write_all, write_summary

__all__ = ["FORMATS", "Format", "format_for", "render", "write_all", "write_summary"]
