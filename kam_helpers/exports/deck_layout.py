"""The deck's layout on a PowerPoint template: opening the template, slide geometry, text boxes whose text always
fits, tables that continue on more slides, pictures, and document properties that name only this client.

Fonts, colours and masters come from a template: ``templates/deck/default.pptx`` or a company's own
(``template=brand.pptx``, its "Title Slide" and "Title Only" layouts, or the closest it has). Font sizes shrink to
:data:`MIN_PT` at the lowest, then long items are cut with an ellipsis and lists and tables continue on a
"(continued)" slide. What goes on the slides is :mod:`kam_helpers.exports.deck`'s.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.shapes import PP_PLACEHOLDER
from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.util import Emu, Inches, Pt

from kam_helpers.core.errors import TemplateError
from kam_helpers.core.formatting import fmt_quarter
from kam_helpers.core.paths import TEMPLATES_DIR
from kam_helpers.exports.typeset import RAG_FILL, Para, lines_needed, truncate
from kam_helpers.qbr.report import QbrReport

DEFAULT_TEMPLATE = TEMPLATES_DIR / "deck" / "default.pptx"
CONTINUED = " (continued)"
MIN_PT, BODY_PT, SIDE_PT, TABLE_PT, TABLE_FLOOR_PT, TITLE_PT = 10, 20, 16, 14, 12, 28
LINE = 1.22  # line height / font size (PowerPoint single spacing, with slack)
PAD_X, PAD_Y = Pt(7.2), Pt(3.6)  # text frame margins, set explicitly on every frame
CELL_X, CELL_Y = Pt(5), Pt(3)  # table cell margins
BULLET_INDENT = Pt(16)
PARA_SPACE_PT = 5  # space before each paragraph but the first


def paras_height_pt(paras: Sequence[Para], width_pt: float, size: float) -> float:
    """Paragraphs, inner box width, font size → the height they take, in pt."""
    lines = sum(lines_needed(p.text, width_pt - (BULLET_INDENT.pt if p.bullet else 0), size, p.bold) for p in paras)
    return lines * size * LINE + PARA_SPACE_PT * max(0, len(paras) - 1)


def frame_fits(shape: Any) -> bool:
    """A text box or placeholder written by this module → True when its text fits inside it (for tests)."""
    tf = shape.text_frame
    paras = []
    size = None
    for p in tf.paragraphs:
        runs = p.runs
        size = size or (runs[0].font.size.pt if runs and runs[0].font.size else BODY_PT)
        paras.append(
            Para(
                p.text,
                bullet=p._p.find(qn("a:pPr") + "/" + qn("a:buChar")) is not None,
                bold=bool(runs and runs[0].font.bold),
            )
        )
    inner_w = Emu(shape.width - PAD_X * 2).pt
    inner_h = Emu(shape.height - PAD_Y * 2).pt
    return paras_height_pt(paras, inner_w, size or BODY_PT) <= inner_h + 0.5


# --- template --------------------------------------------------------------------------------------------


def open_template(template: Path | None = None) -> Presentation:
    """Template path (None = the packaged default) → a Presentation with the template's slides removed."""
    src = DEFAULT_TEMPLATE if template is None else Path(template)
    if not src.is_file():
        raise TemplateError(f"deck template {src}: file not found; expected a PowerPoint file (.pptx)")
    try:
        prs = Presentation(str(src))
    except Exception as exc:  # python-pptx raises several kinds for a file that is not a presentation
        raise TemplateError(
            f"deck template {src}: not a PowerPoint presentation ({exc}); expected a .pptx file "
            "with slide masters and layouts (save a .potx as .pptx)"
        ) from exc
    ids = prs.slides._sldIdLst
    for sld in list(ids):  # example slides of a company template never reach a client
        prs.part.drop_rel(sld.rId)
        ids.remove(sld)
    if _layout(prs, ("title only",)) is None:
        raise TemplateError(f"deck template {src}: expected at least one slide layout with a title placeholder")
    return prs


def _title_ph(layout: Any) -> Any:
    for ph in layout.placeholders:
        if ph.placeholder_format.type in (PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE):
            return ph
    return None


def _layout(prs: Presentation, names: tuple[str, ...], subtitle: bool = False) -> Any | None:
    """The layout named one of ``names``, else the one with a title (and subtitle) and fewest placeholders."""
    layouts = [lay for lay in prs.slide_layouts if _title_ph(lay) is not None]
    for name in names:
        for lay in layouts:
            if lay.name.strip().lower() == name:
                return lay
    if subtitle:
        with_sub = [
            lay
            for lay in layouts
            if any(ph.placeholder_format.type == PP_PLACEHOLDER.SUBTITLE for ph in lay.placeholders)
        ]
        layouts = with_sub or layouts
    return min(layouts, key=lambda lay: len(lay.placeholders), default=None)


def clear_properties(prs: Presentation, report: QbrReport, slides: int) -> None:
    """Document properties → only this client's: core properties set, app/custom properties and the
    template's thumbnail replaced or dropped."""
    sc = report.scorecard
    kam = str(sc.account.get("owner") or "")
    cp = prs.core_properties
    now = dt.datetime.now().replace(microsecond=0)
    for attr in ("comments", "category", "content_status", "identifier", "language", "version", "last_modified_by"):
        setattr(cp, attr, "")
    cp.title = f"{sc.name} – Quarterly Business Review {fmt_quarter(sc.quarter)}"
    cp.author, cp.last_modified_by = kam, kam
    cp.subject = f"Quarterly Business Review {sc.quarter} for {sc.name} ({sc.account_id})"
    cp.keywords = f"QBR; {sc.quarter}; {sc.account_id}; {sc.name}"
    cp.category = "Quarterly Business Review"
    cp.revision, cp.created, cp.modified, cp.last_printed = 1, now, now, now
    pkg = prs.part.package
    for rid, rel in list(pkg._rels.items()):
        if rel.reltype.endswith(("/thumbnail", "/custom-properties")):
            pkg._rels.pop(rid)
        elif rel.reltype.endswith("/extended-properties"):
            rel.target_part._blob = (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Properties xmlns="http://schemas.'
                'openxmlformats.org/officeDocument/2006/extended-properties"><Application>KAM Workspace'
                f"</Application><Slides>{slides}</Slides></Properties>"
            ).encode()
    for rid, rel in list(prs.part.rels.items()):
        if rel.reltype.endswith(("/commentAuthors", "/printerSettings")):
            prs.part.drop_rel(rid)


# --- the deck builder ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    width: int
    height: int


class SlideDeck:
    """Slides added one by one onto a template; geometry relative to the template's slide size."""

    def __init__(self, prs: Presentation, report: QbrReport) -> None:
        self.prs, self.report = prs, report
        self.w, self.h = prs.slide_width, prs.slide_height
        self.title_layout = _layout(prs, ("title slide", "title"), subtitle=True)
        self.content_layout = _layout(prs, ("title only", "title and content", "title, content"))
        self.margin = Inches(0.6) if self.w >= Inches(10) else Inches(0.4)
        ph = _title_ph(self.content_layout)
        inside = (
            ph is not None
            and ph.left is not None
            and ph.top + ph.height <= self.h * 0.3
            and ph.left + ph.width <= self.w
            and ph.left >= 0
            and ph.top >= 0
        )
        self.title_box = (
            Box(ph.left, ph.top, ph.width, ph.height)
            if inside
            else Box(self.margin, Inches(0.35), self.w - 2 * self.margin, Inches(0.9))
        )
        top = self.title_box.top + self.title_box.height + Inches(0.15)
        self.body = Box(self.margin, top, self.w - 2 * self.margin, self.h - Inches(0.55) - top)
        self.count = 0

    # shapes

    def text(
        self, slide: Any, box: Box, paras: Sequence[Para], size: float, anchor: MSO_ANCHOR = MSO_ANCHOR.TOP
    ) -> Any:
        shape = slide.shapes.add_textbox(box.left, box.top, box.width, box.height)
        self.fill_frame(shape.text_frame, paras, size, anchor)
        return shape

    @staticmethod
    def fill_frame(
        tf: Any,
        paras: Sequence[Para],
        size: float,
        anchor: MSO_ANCHOR = MSO_ANCHOR.TOP,
        align: PP_ALIGN | None = None,
        colour: str | None = None,
    ) -> None:
        tf.word_wrap, tf.auto_size, tf.vertical_anchor = True, MSO_AUTO_SIZE.NONE, anchor
        tf.margin_left = tf.margin_right = PAD_X
        tf.margin_top = tf.margin_bottom = PAD_Y
        for i, para in enumerate(paras):
            p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
            p.text = para.text
            if align is not None:
                p.alignment = align
            if i:
                p.space_before = Pt(PARA_SPACE_PT)
            for run in p.runs:
                run.font.size, run.font.bold = Pt(size), para.bold or None
                if colour:
                    run.font.color.rgb = RGBColor.from_string(colour)
            if para.bullet:
                ppr = p._p.get_or_add_pPr()
                ppr.set("marL", str(BULLET_INDENT)), ppr.set("indent", str(-BULLET_INDENT))
                ppr.append(ppr.makeelement(qn("a:buChar"), {"char": "•"}))

    def fit_size(self, paras: Sequence[Para], box: Box, top: float = BODY_PT) -> float | None:
        inner_w, inner_h = Emu(box.width - 2 * PAD_X).pt, Emu(box.height - 2 * PAD_Y).pt
        for size in range(int(top), MIN_PT - 1, -1):
            if paras_height_pt(paras, inner_w, size) <= inner_h:
                return size
        return None

    def paginate(self, paras: Sequence[Para], box: Box, top: float = BODY_PT) -> tuple[float, list[list[Para]]]:
        """Paragraphs, box → (font size, pages): one page at the largest size that fits, else pages at MIN_PT
        (a paragraph too long for a whole box is cut with an ellipsis)."""
        size = self.fit_size(paras, box, top)
        if size is not None:
            return size, [list(paras)]
        inner_w, inner_h = Emu(box.width - 2 * PAD_X).pt, Emu(box.height - 2 * PAD_Y).pt
        max_lines = max(1, int(inner_h // (MIN_PT * LINE)) - 1)
        pages: list[list[Para]] = [[]]
        for p in paras:
            w = inner_w - (BULLET_INDENT.pt if p.bullet else 0)
            p = Para(truncate(p.text, w, MIN_PT, max_lines, p.bold), p.bullet, p.bold)
            if pages[-1] and paras_height_pt(pages[-1] + [p], inner_w, MIN_PT) > inner_h:
                pages.append([])
            pages[-1].append(p)
        return MIN_PT, pages

    def slide(self, title: str, notes: str, layout: Any | None = None) -> Any:
        """A new slide with ``title`` (fitted to its box) and speaker ``notes``; stray placeholders removed."""
        slide = self.prs.slides.add_slide(layout or self.content_layout)
        self.count += 1
        for ph in list(slide.placeholders):
            if ph.placeholder_format.type not in (
                PP_PLACEHOLDER.TITLE,
                PP_PLACEHOLDER.CENTER_TITLE,
                PP_PLACEHOLDER.SUBTITLE,
            ):
                ph._element.getparent().remove(ph._element)
        shape = slide.shapes.title
        box = self.title_box if layout is None else None
        if shape is None:
            shape = slide.shapes.add_textbox(*_xywh(self.title_box))
        elif box is not None:
            shape.left, shape.top, shape.width, shape.height = _xywh(box)
        size = self.fit_size([Para(title, bold=True)], box_of(shape), TITLE_PT) or MIN_PT
        text = truncate(title, Emu(shape.width - 2 * PAD_X).pt, size, 1, True) if size == MIN_PT else title
        self.fill_frame(shape.text_frame, [Para(text, bold=True)], size, MSO_ANCHOR.MIDDLE)
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
        return slide

    def footer(self, slide: Any) -> None:
        sc = self.report.scorecard
        box = Box(self.margin, self.h - Inches(0.5), self.w - 2 * self.margin, Inches(0.4))
        label = truncate(
            f"{sc.name} · Quarterly Business Review {fmt_quarter(sc.quarter)}",
            Emu(box.width - 2 * PAD_X).pt - 40,
            MIN_PT,
        )
        shape = self.text(slide, box, [Para(label)], MIN_PT, MSO_ANCHOR.BOTTOM)
        num = slide.shapes.add_textbox(box.left + box.width - Inches(0.8), box.top, Inches(0.8), box.height)
        self.fill_frame(num.text_frame, [Para(str(self.count))], MIN_PT, MSO_ANCHOR.BOTTOM, PP_ALIGN.RIGHT)
        for s in (shape, num):
            for run in s.text_frame.paragraphs[0].runs:
                run.font.color.rgb = RGBColor.from_string("616E7C")

    def bullets(
        self,
        title: str,
        paras: Sequence[Para],
        notes: str,
        box: Box | None = None,
        extra: Callable[[Any], None] | None = None,
        continues: bool = False,
    ) -> None:
        """A bullet slide (continued on more slides when the text needs them); ``extra(slide)`` adds more;
        ``continues``: the first slide already continues an earlier one (titled as such)."""
        box = box or self.body
        top = BODY_PT if box.width > self.body.width * 0.7 else SIDE_PT
        size, pages = self.paginate(paras or [Para("No data for this in the workspace.")], box, top)
        for i, page in enumerate(pages):
            slide = self.slide(title + (CONTINUED if i or continues else ""), notes)
            self.text(slide, box, page, size)
            if extra is not None and i == 0:
                extra(slide)
            self.footer(slide)

    def table(
        self,
        slide: Any,
        box: Box,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        fracs: Sequence[float],
        size: float,
        fills: dict[tuple[int, int], str] | None = None,
        right: Sequence[int] = (),
    ) -> Any:
        """Add a table of already-fitted cell texts; ``fills[(row, col)]`` = a RAG_FILL key."""
        widths = [int(box.width * f / sum(fracs)) for f in fracs]
        heights = [self.row_height(header, widths, size, True)] + [self.row_height(r, widths, size) for r in rows]
        shape = slide.shapes.add_table(len(rows) + 1, len(header), box.left, box.top, box.width, sum(heights))
        tbl = shape.table
        for j, w in enumerate(widths):
            tbl.columns[j].width = w
        for i, h in enumerate(heights):
            tbl.rows[i].height = h
        for i, row in enumerate([list(header)] + [list(r) for r in rows]):
            for j, text in enumerate(row):
                cell = tbl.cell(i, j)
                cell.margin_left = cell.margin_right = CELL_X
                cell.margin_top = cell.margin_bottom = CELL_Y
                cell.vertical_anchor = MSO_ANCHOR.MIDDLE
                fill = (fills or {}).get((i, j))
                colour = None
                if fill:
                    bg, colour = RAG_FILL[fill]
                    cell.fill.solid()
                    cell.fill.fore_color.rgb = RGBColor.from_string(bg)
                p = cell.text_frame.paragraphs[0]
                p.text = text
                p.alignment = PP_ALIGN.RIGHT if j in right else (PP_ALIGN.CENTER if fill else PP_ALIGN.LEFT)
                for run in p.runs:
                    run.font.size, run.font.bold = Pt(size), (i == 0) or None
                    if colour:
                        run.font.color.rgb = RGBColor.from_string(colour)
        return shape

    @staticmethod
    def row_height(cells: Sequence[str], widths: Sequence[int], size: float, bold: bool = False) -> int:
        lines = max(lines_needed(t, Emu(w - 2 * CELL_X).pt, size, bold) for t, w in zip(cells, widths, strict=False))
        return int(Pt(lines * size * LINE) + 2 * CELL_Y + Pt(2))

    def table_pages(
        self, header: Sequence[str], rows: Sequence[Sequence[str]], fracs: Sequence[float], box: Box, size: float
    ) -> list[list[Sequence[str]]]:
        """Rows → pages of rows whose heights fit ``box`` (balanced: every page about as full)."""
        widths = [int(box.width * f / sum(fracs)) for f in fracs]
        room = box.height - self.row_height(header, widths, size, True)
        heights = [self.row_height(r, widths, size) for r in rows]
        pages, used = 1, 0
        for h in heights:
            if used + h > room:
                pages, used = pages + 1, 0
            used += h
        if pages == 1:
            return [list(rows)]
        per = -(-len(rows) // pages)
        out: list[list[Any]] = []
        current: list[Any] = []
        used = 0
        for r, h in zip(rows, heights, strict=False):  # balanced split, never over the room
            if current and (len(current) >= per or used + h > room):
                out.append(current)
                current, used = [], 0
            current.append(r)
            used += h
        return out + [current]

    def picture(self, slide: Any, png: bytes, box: Box) -> None:
        """A chart PNG scaled to fit ``box``, aspect kept, centred across, at the top."""
        with Image.open(io.BytesIO(png)) as img:
            pw, ph = img.size
        scale = min(box.width / pw, box.height / ph)
        w, h = int(pw * scale), int(ph * scale)
        slide.shapes.add_picture(io.BytesIO(png), box.left + (box.width - w) // 2, box.top, w, h)


def _xywh(box: Box) -> tuple[int, int, int, int]:
    return box.left, box.top, box.width, box.height


def box_of(shape: Any) -> Box:
    return Box(shape.left, shape.top, shape.width, shape.height)
