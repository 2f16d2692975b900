"""Text for the Office exports: the fonts they measure and embed, text measured in them, a narrative's Markdown as
plain paragraphs, and the colours of a status cell. Shared by the deck and the PDF, which import nothing from
each other.

Text is measured with real glyph widths of DejaVu Sans (wider than Calibri, Arial or Carlito, so an estimate
errs on the safe side).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from kam_helpers.core.errors import ConfigError
from kam_helpers.core.safe_html import md_plain

RAG_FILL = {
    "green": ("2E7D32", "FFFFFF"),
    "amber": ("F9A825", "3D2B00"),
    "red": ("C62828", "FFFFFF"),
    "done": ("2E7D32", "FFFFFF"),
    "open": ("E4E7EB", "1F2933"),
    "overdue": ("C62828", "FFFFFF"),
}
ELLIPSIS = "…"


# --- text measurement ------------------------------------------------------------------------------------


def font_file(bold: bool = False) -> Path:
    """The DejaVu Sans TTF shipped in matplotlib's wheel (used to measure text here and embedded in the PDF)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("matplotlib is not installed: expected its DejaVu Sans fonts (pip install matplotlib)")
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / name


@lru_cache(maxsize=2)
def _font(bold: bool) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_file(bold)), size=100)


WIDTH_SLACK = 1.06  # renderers differ in hinting and kerning: measure a little wide


@lru_cache(maxsize=16384)
def _length_at_100(text: str, bold: bool) -> float:
    # Measured once per text: fitting a deck's text tries each size from the largest down, and word wrap
    # measures the same lines again at each one.
    return _font(bold).getlength(text)


def text_width_pt(text: str, size: float, bold: bool = False) -> float:
    """Text, font size in pt → its width in pt on one line (with WIDTH_SLACK)."""
    return _length_at_100(text, bold) * size / 100 * WIDTH_SLACK


def lines_needed(text: str, width_pt: float, size: float, bold: bool = False) -> int:
    """Text, box width in pt, font size → number of lines after greedy word wrap (long words break)."""
    count = 0
    for para in text.split("\n"):
        line, count = "", count + 1
        for word in para.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width_pt(candidate, size, bold) <= width_pt:
                line = candidate
                continue
            if line:
                count += 1
            line = word
            while text_width_pt(line, size, bold) > width_pt and len(line) > 1:  # a word wider than the box
                cut = max(1, int(len(line) * width_pt / text_width_pt(line, size, bold)))
                line, count = line[cut:], count + 1
    return count


def truncate(text: str, width_pt: float, size: float, max_lines: int = 1, bold: bool = False) -> str:
    """Text → the longest prefix that fits ``max_lines`` lines, ending with an ellipsis when cut."""
    if lines_needed(text, width_pt, size, bold) <= max_lines:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if lines_needed(text[:mid].rstrip() + ELLIPSIS, width_pt, size, bold) <= max_lines:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + ELLIPSIS


@dataclass(frozen=True)
class Para:
    """A paragraph of a text box."""

    text: str
    bullet: bool = False
    bold: bool = False


def markdown_lines(markdown: str) -> list[Para]:
    """A narrative section's Markdown → paragraphs: list items become bullets, markup is dropped."""
    out = []
    for raw in markdown.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "|")):
            continue
        bullet = line.startswith(("- ", "* "))
        out.append(Para(md_plain(line[2:] if bullet else line).strip(), bullet=bullet))
    return out


def notes_text(markdown: str) -> str:
    """Markdown → plain speaker-notes text (bullets as '• ')."""
    return "\n".join(("• " if p.bullet else "") + p.text for p in markdown_lines(markdown))
