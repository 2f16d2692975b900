"""QbrReport → the QBR as a PDF document ``qbr.pdf``: a header, then the parts of the QBR's outline in order
(:data:`kam_helpers.qbr.outline.PARTS`): tables, narrative sections and each section's charts after its text.

Made with fpdf2 (pure Python, from its wheel: no browser, no system library). Text is set in DejaVu Sans,
taken from matplotlib's wheel and embedded (subset) in the file, so every lane name prints — arrows,
accents, Polish or Czech city names — on any machine. Charts are the same Altair charts as PNGs
(vl-convert, offline). The metadata names only this client.
"""

from __future__ import annotations

import datetime as dt
import io

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from PIL import Image

from kam_helpers.core.formatting import fmt_date, fmt_quarter
from kam_helpers.exports.typeset import RAG_FILL, font_file, markdown_lines
from kam_helpers.qbr.charts import PNG_SCALE
from kam_helpers.qbr.outline import PARTS, RAG_WORDS, Part
from kam_helpers.qbr.report import QbrReport, kpi_row

FONT = "DejaVu"
INK, MUTED, ACCENT, LINE = (31, 41, 51), (97, 110, 124), (31, 78, 121), (228, 231, 235)


def _rgb(hexv: str) -> tuple[int, int, int]:
    return int(hexv[0:2], 16), int(hexv[2:4], 16), int(hexv[4:6], 16)


class _Doc(FPDF):
    """A4 portrait with a running footer: client, quarter, page n of N."""

    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")


def _heading(pdf: _Doc, text: str) -> None:
    if pdf.get_y() > pdf.h - 50:
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font(FONT, "B", 14)
    pdf.set_text_color(*ACCENT)
    pdf.multi_cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(*LINE)
    pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.w - pdf.r_margin, pdf.get_y() + 1)
    pdf.ln(3)


def _paragraphs(pdf: _Doc, markdown: str) -> None:
    pdf.set_text_color(*INK)
    for para in markdown_lines(markdown):
        pdf.set_font(FONT, "", 10)
        if para.bullet:
            pdf.set_x(pdf.l_margin + 2)
            pdf.cell(4, 5, "•")
            pdf.multi_cell(0, 5, para.text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        else:
            pdf.multi_cell(0, 5, para.text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)


def _chart(pdf: _Doc, report: QbrReport, name: str) -> None:
    png = report.chart_png(name)  # the deck's PNG, at PNG_SCALE
    if png is None:
        pdf.set_font(FONT, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(0, 5, report.chart_note(name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return
    with Image.open(io.BytesIO(png)) as img:
        px_w, px_h = img.size
    width = min(pdf.epw, px_w / PNG_SCALE * 0.2646)  # 1 CSS px = 0.2646 mm, drawn at PNG_SCALE pixels
    height = width * px_h / px_w
    if pdf.get_y() + height > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.image(io.BytesIO(png), x=pdf.l_margin, w=width, h=height)
    pdf.ln(3)


def _table(
    pdf: _Doc,
    header: list[str],
    rows: list[list[str]],
    widths: list[float],
    fills: list[str | None] | None = None,
    status_col: int | None = None,
    align: str = "",
) -> None:
    """A simple table; rows split over pages; the status cell filled with its RAG colour."""
    line_h = 5
    pdf.set_font(FONT, "", 9)
    pdf.set_text_color(*INK)
    aligns = [{"L": "LEFT", "R": "RIGHT", "C": "CENTER"}[c] for c in (align or "L" * len(header))]
    with pdf.table(
        col_widths=widths,
        line_height=line_h,
        text_align=aligns,
        headings_style=_headings_style(),
        borders_layout="HORIZONTAL_LINES",
        first_row_as_headings=True,
        width=pdf.epw,
    ) as table:
        table.row(header)
        for i, cells in enumerate(rows):
            row = table.row()
            for j, text in enumerate(cells):
                key = fills[i] if fills and j == status_col else None
                if key in RAG_FILL:
                    bg, fg = RAG_FILL[key]
                    row.cell(text, style=FontFace(color=_rgb(fg), fill_color=_rgb(bg)))
                else:
                    row.cell(text)
    pdf.ln(2)


def _headings_style() -> FontFace:
    return FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=ACCENT)


def _last_qbr(pdf: _Doc, report: QbrReport, title: str) -> None:
    prior, items = report.previous_actions()
    _heading(pdf, title)
    if items:
        _table(
            pdf,
            ["Action", "Owner", "Due", "Status"],
            [[i.text, i.owner, fmt_date(i.due), s] for i, s in items],
            [60, 18, 14, 10],
            [s for _, s in items],
            3,
            "LLLC",
        )
    else:
        _paragraphs(
            pdf,
            "No earlier QBR on record: this is the first QBR, so there are no agreed action items to follow up."
            if items is None
            else f"The {fmt_quarter(prior)} QBR produced no action items.",
        )


def _scorecard(pdf: _Doc, report: QbrReport, title: str) -> None:
    _heading(pdf, title)
    rows = [kpi_row(k, report.currency) for k in report.scorecard.kpis.values()]
    _table(
        pdf,
        ["KPI", fmt_quarter(report.scorecard.quarter), "Prior quarter", "Last year", "Target", "Status"],
        [[r["label"], r["value"], r["prior"], r["last_year"], r["target"], RAG_WORDS[r["rag"]].lower()] for r in rows],
        [40, 15, 15, 15, 13, 14],
        [r["rag"] for r in rows],
        5,
        "LRRRRC",
    )


def _action_items(pdf: _Doc, report: QbrReport, title: str) -> None:
    _heading(pdf, title)
    if report.narrative.action_items:
        _table(
            pdf,
            ["Action", "Owner", "Due"],
            [[i.text, i.owner, fmt_date(i.due)] for i in report.narrative.action_items],
            [64, 22, 16],
        )
    else:
        _paragraphs(pdf, "No action items this quarter.")


def _part(pdf: _Doc, report: QbrReport, part: Part) -> None:
    """One part of the outline: its table, or its narrative section followed by its charts."""
    if part.key == "last_qbr":
        _last_qbr(pdf, report, part.title)
    elif part.key == "scorecard":
        _scorecard(pdf, report, part.title)
    elif part.key == "action_items":
        _action_items(pdf, report, part.title)
    else:
        try:
            section = report.narrative.section(part.key)
        except KeyError:
            return
        _heading(pdf, section.title)
        _paragraphs(pdf, section.markdown)
        for chart in part.charts:
            _chart(pdf, report, chart.name)


def build_pdf(report: QbrReport) -> bytes:
    """QbrReport → the PDF file's bytes."""
    sc = report.scorecard
    kam = str(sc.account.get("owner") or "")
    quarter = fmt_quarter(sc.quarter)
    pdf = _Doc(orientation="P", unit="mm", format="A4")
    pdf.add_font(FONT, "", str(font_file(False)))
    pdf.add_font(FONT, "B", str(font_file(True)))
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_margins(16, 16, 16)
    pdf.footer_text = f"{sc.name} · Quarterly Business Review {quarter}"
    pdf.set_title(f"{sc.name} – Quarterly Business Review {quarter}")
    pdf.set_author(kam)
    pdf.set_subject(f"Quarterly Business Review {sc.quarter} for {sc.name} ({sc.account_id})")
    pdf.set_keywords(f"QBR {sc.quarter} {sc.account_id}")
    pdf.set_creator("KAM Workspace")
    pdf.set_producer("KAM Workspace")
    pdf.set_creation_date(dt.datetime.now(dt.timezone.utc))
    pdf.set_lang("en")
    pdf.add_page()

    pdf.set_font(FONT, "", 9)
    pdf.set_text_color(*ACCENT)
    pdf.cell(0, 5, f"QUARTERLY BUSINESS REVIEW · {quarter.upper()}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "B", 20)
    pdf.multi_cell(0, 9, sc.name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 10)
    pdf.set_text_color(*MUTED)
    a = sc.account
    facts = [
        f"Key account manager: {kam}" if kam else "",
        f"Period {fmt_date(sc.quarter.start)} – {fmt_date(sc.quarter.end)}",
        f"Contract ends {fmt_date(a.get('contract_end'))}" if a.get("contract_end") is not None else "",
    ]
    pdf.multi_cell(0, 5, " · ".join(f for f in facts if f), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    for part in PARTS:
        _part(pdf, report, part)
    return bytes(pdf.output())
