"""The width table the reports size their tables with (reports/font_metrics.py) is the
fonts' own: read back from Debian's fonts-liberation (installed by `./run test`), whose
Liberation Serif and Sans have the metrics of Times New Roman and Arial."""

from __future__ import annotations

from pathlib import Path

import pytest
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

from reports.font_metrics import CHARS, WIDTHS, Font, text_pt

FONTS = Path("/usr/share/fonts/truetype/liberation")
FILES: dict[Font, str] = {
    "serif": "LiberationSerif-Regular.ttf",
    "serif-bold": "LiberationSerif-Bold.ttf",
    "sans": "LiberationSans-Regular.ttf",
    "sans-bold": "LiberationSans-Bold.ttf",
}


@pytest.mark.parametrize("font", list(FILES))
def test_widths_are_the_fonts_own(font: Font) -> None:
    path = FONTS / FILES[font]
    if not path.exists():
        pytest.fail(f"{path} is missing: `./run test` installs fonts-liberation")
    ttf = TTFont(str(path))
    cmap, metrics = ttf.getBestCmap(), ttf["hmtx"]
    per_em = ttf["head"].unitsPerEm
    for ch in CHARS:
        glyph = cmap[ord(ch)]
        assert WIDTHS[font][ch] == round(metrics[glyph][0] * 1000 / per_em), repr(ch)


def test_text_width() -> None:
    # Times New Roman: "Просрочено" bold at 7 pt is 37.9 pt, as LibreOffice lays it out
    assert text_pt("Просрочено", 7, "serif-bold") == pytest.approx(37.9, abs=0.1)
    assert text_pt("ab", 10, "sans") == pytest.approx(11.12)
    # a character the table does not know counts a full em: never too narrow
    assert text_pt("漢", 10) == 10
