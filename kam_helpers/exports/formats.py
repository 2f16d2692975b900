"""The files of a QBR pack: which formats exist and what each file is called (light: no exporter imported)."""

from __future__ import annotations

from collections.abc import Iterable

from kam_helpers.core.errors import FormatError

FILENAMES = {"html": "qbr.html", "pptx": "qbr.pptx", "xlsx": "activity.xlsx", "pdf": "qbr.pdf"}
ALL_FORMATS: tuple[str, ...] = tuple(FILENAMES)  # what `kam qbr --formats` accepts
OFFICE_FORMATS: tuple[str, ...] = (
    "pptx",
    "xlsx",
    "pdf",
)  # written by kam_helpers.exports.pack (html: kam_helpers.exports.html)


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """'html,pptx' or an iterable of names → the distinct formats in the order given (lower-cased);
    FormatError naming the unknown ones and the known ones."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    wanted = [str(f).strip().lower().lstrip(".") for f in items if str(f).strip()]
    unknown = [f for f in wanted if f not in ALL_FORMATS]
    if unknown or not wanted:
        shown = ", ".join(map(repr, unknown)) or "(none)"
        raise FormatError(f"output format(s) {shown}: expected some of {', '.join(ALL_FORMATS)}")
    return tuple(dict.fromkeys(wanted))
