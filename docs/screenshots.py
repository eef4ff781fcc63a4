"""Screenshots of the summary's first pages in each format, for the README.

    .venv/bin/python docs/screenshots.py var/demo/summary   # after `./run demo`

Word and Excel go through LibreOffice (PDF) and pdftoppm, the HTML page and the Markdown
(rendered the way a repository shows it) through headless Chromium. Needs the Debian
packages `./run test` installs (libreoffice-*-nogui, poppler-utils, chromium).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from markdown_it import MarkdownIt
from PIL import Image

DOCS = Path(__file__).resolve().parent
STEM = "summary-2022-2023"


def _side_by_side(pages: list[Path], out: Path) -> None:
    images = [Image.open(p).convert("RGB") for p in pages]
    width = sum(i.width for i in images) + 10 * (len(images) - 1)
    height = max(i.height for i in images)
    sheet = Image.new("RGB", (width, height), "#888888")
    x = 0
    for image in images:
        sheet.paste(image, (x, 0))
        x += image.width + 10
    sheet.save(out, optimize=True)


def _pdf_pages(pdf: Path, first: int, last: int, work: Path, name: str) -> list[Path]:
    prefix = work / name
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-f", str(first), "-l", str(last), str(pdf), str(prefix)],
        check=True,
    )
    return sorted(work.glob(f"{name}-*.png"))


def _chromium(html: Path, out: Path) -> None:
    subprocess.run(
        [
            "/usr/bin/chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1100,1400",
            f"--screenshot={out}",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
    )


def main(folder: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for suffix in ("docx", "xlsx"):
            source = work / f"{suffix}-{STEM}.{suffix}"
            source.write_bytes((folder / f"{STEM}.{suffix}").read_bytes())
            subprocess.run(
                [
                    "soffice",
                    f"-env:UserInstallation={(work / 'profile').as_uri()}",
                    "--headless",
                    "--convert-to",
                    "pdf",
                    "--outdir",
                    str(work),
                    str(source),
                ],
                check=True,
                capture_output=True,
            )
        word = _pdf_pages(work / f"docx-{STEM}.pdf", 1, 3, work, "word")
        _side_by_side(word, DOCS / "summary-docx.png")
        text = subprocess.run(
            ["pdftotext", "-layout", str(work / f"docx-{STEM}.pdf"), "-"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split("\f")
        first = next(
            n
            for n, page in enumerate(text, start=1)
            if n > 1 and page.lstrip().splitlines()[1:2] and "Приложение 1." in page[:600]
        )
        appendix = _pdf_pages(work / f"docx-{STEM}.pdf", first, first, work, "appendix")
        _side_by_side(appendix, DOCS / "summary-docx-appendix.png")
        excel = _pdf_pages(work / f"xlsx-{STEM}.pdf", 1, 3, work, "excel")
        _side_by_side(excel, DOCS / "summary-xlsx.png")
        _chromium(folder / f"{STEM}.html", DOCS / "summary-html.png")
        md = MarkdownIt("commonmark").enable("table")
        page = work / "md.html"
        page.write_text(
            "<!DOCTYPE html><meta charset='utf-8'><style>body{font-family:'DejaVu Sans';"
            "max-width:1000px;margin:2rem auto;font-size:14px}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px}</style>"
            + md.render((folder / f"{STEM}.md").read_text(encoding="utf-8")),
            encoding="utf-8",
        )
        _chromium(page, DOCS / "summary-md.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("var/demo/summary"))
