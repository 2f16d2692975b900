"""QbrReport → the Office files of the QBR pack, written next to qbr.html: the one module that combines the exports.

The notebook's last cell calls ``write_pack(qbr, pack_dir, pack_formats, pack_template)``, which writes ``qbr.pptx``
(:mod:`kam_helpers.exports.deck`), ``activity.xlsx`` (:mod:`kam_helpers.exports.workbook`) and ``qbr.pdf``
(:mod:`kam_helpers.exports.pdf`). Every file is built in memory first and only then written, each through
``core.files.write_atomic``: a bad template or format writes nothing, and a reader never sees half a file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from kam_helpers.core.files import write_atomic
from kam_helpers.exports.deck import build_deck
from kam_helpers.exports.formats import ALL_FORMATS, FILENAMES, OFFICE_FORMATS, parse_formats
from kam_helpers.exports.pdf import build_pdf
from kam_helpers.exports.workbook import build_workbook
from kam_helpers.qbr.report import QbrReport

FORMATS = OFFICE_FORMATS  # what write_pack produces, in this order

__all__ = ["ALL_FORMATS", "FILENAMES", "FORMATS", "parse_formats", "write_pack"]


def write_pack(
    report: QbrReport,
    out_dir: str | Path,
    formats: str | Iterable[str] = FORMATS,
    template: str | Path | None = None,
) -> list[Path]:
    """QbrReport, folder ('' = write nothing), formats ('pptx,xlsx' or names of FORMATS; 'html' is accepted and
    left to the HTML export), deck template (None or '' = the packaged default) → the paths written, in FORMATS
    order."""
    if not out_dir:
        return []
    wanted = parse_formats(formats)
    deck_template = Path(template) if template else None
    builders: dict[str, Callable[[], bytes]] = {
        "pptx": lambda: build_deck(report, deck_template),
        "xlsx": lambda: build_workbook(report),
        "pdf": lambda: build_pdf(report),
    }
    built = {fmt: builders[fmt]() for fmt in FORMATS if fmt in wanted}
    out_dir = Path(out_dir)
    paths = []
    for fmt, data in built.items():
        path = out_dir / FILENAMES[fmt]
        write_atomic(path, data)
        paths.append(path)
    return paths
