"""QbrReport → the Office files of the QBR pack, written next to qbr.html: the one entry point for the batch.

``write_pack(report, out_dir, ("pptx", "xlsx", "pdf"), template=...)`` writes ``qbr.pptx``
(:mod:`kam_helpers.exports.deck`), ``activity.xlsx`` (:mod:`kam_helpers.exports.workbook`) and ``qbr.pdf``
(:mod:`kam_helpers.exports.pdf`). Every file is built in memory first and only then written, each through
``render.write_atomic``: a bad template or format writes nothing, and a reader never sees half a file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from kam_helpers.core.files import write_atomic
from kam_helpers.exports.deck import TemplateError, build_deck
from kam_helpers.exports.formats import ALL_FORMATS, FILENAMES, OFFICE_FORMATS, FormatError, parse_formats
from kam_helpers.exports.pdf import build_pdf
from kam_helpers.exports.workbook import build_workbook
from kam_helpers.qbr.report import QbrReport

FORMATS = OFFICE_FORMATS  # what write_pack produces, in this order

__all__ = ["ALL_FORMATS", "FILENAMES", "FORMATS", "FormatError", "TemplateError", "parse_formats", "write_pack"]


def write_pack(
    report: QbrReport, out_dir: Path, formats: Iterable[str] = FORMATS, *, template: Path | None = None
) -> list[Path]:
    """QbrReport, folder, formats (of FORMATS; 'html' is accepted and left to the HTML export), deck template
    (None = the packaged default) → the paths written, in FORMATS order."""
    wanted = parse_formats(formats)
    builders: dict[str, Callable[[], bytes]] = {
        "pptx": lambda: build_deck(report, template),
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
