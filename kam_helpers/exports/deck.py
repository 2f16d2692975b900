"""QbrReport → the QBR deck a KAM presents (python-pptx, 16:9): ``qbr.pptx``.

One slide (or more, continued) per part of the QBR's outline (:data:`kam_helpers.qbr.outline.PARTS`), after a
title slide. Figures come from the same :func:`kam_helpers.qbr.report.kpi_row` strings the HTML shows; charts
are PNGs of the same Altair charts (vl-convert, offline), the first chart of a part on its slide; every content
slide's speaker notes carry its narrative section. Layout (template, fitted text, tables) lives in
:mod:`kam_helpers.exports.deck_layout`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pptx.enum.shapes import PP_PLACEHOLDER
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.util import Emu, Inches

from kam_helpers.core.formatting import fmt_date, fmt_quarter
from kam_helpers.exports.deck_layout import (
    BODY_PT,
    CELL_X,
    CONTINUED,
    DEFAULT_TEMPLATE,
    MIN_PT,
    PAD_X,
    TABLE_FLOOR_PT,
    TABLE_PT,
    Box,
    SlideDeck,
    box_of,
    clear_properties,
    frame_fits,
    open_template,
)
from kam_helpers.exports.typeset import ELLIPSIS, RAG_FILL, Para, lines_needed, markdown_lines, notes_text, truncate
from kam_helpers.qbr.outline import PARTS, RAG_WORDS, Part
from kam_helpers.qbr.report import QbrReport, kpi_row

# What tests and the pack read here: the layout's names a reader of a deck expects to find on it.
__all__ = ["CONTINUED", "DEFAULT_TEMPLATE", "ELLIPSIS", "MIN_PT", "RAG_FILL", "SLIDE_TITLES",
           "build_deck", "frame_fits", "lines_needed", "truncate"]  # fmt: skip

SLIDE_TITLES = tuple(p.on_slide for p in PARTS)  # after the title slide; a continuing slide adds CONTINUED
CHART_SLIDES = {p.on_slide: p.charts[0].name for p in PARTS if p.charts}  # slide title → the chart it shows


# --- the slides ------------------------------------------------------------------------------------------


def _section(report: QbrReport, key: str) -> tuple[list[Para], str]:
    """Narrative section → (its paragraphs, its notes text); nothing when the narrative lacks it."""
    try:
        md = report.narrative.section(key).markdown
    except KeyError:
        return [], ""
    return markdown_lines(md), notes_text(md)


def _chart_png(report: QbrReport, name: str) -> bytes | None:
    """The chart as the HTML report draws it, as the PNG the PDF shows too (vl-convert, offline); None without
    data."""
    return report.chart_png(name)


def _split(deck: SlideDeck, ratio: float = 0.62) -> tuple[Box, Box]:
    b, gap = deck.body, Inches(0.3)
    left = int((b.width - gap) * ratio)
    return Box(b.left, b.top, left, b.height), Box(b.left + left + gap, b.top, b.width - left - gap, b.height)


def _chart_slide(deck: SlideDeck, part: Part, side: Callable[[Any, Box], None] | None = None) -> None:
    """The part's first chart on the left; its section's bullets (or ``side(slide, box)``) on the right."""
    report, title, chart = deck.report, part.on_slide, part.charts[0].name
    paras, notes = _section(report, part.key)
    png = _chart_png(report, chart)
    left, right = _split(deck)

    def add_chart(slide: Any) -> None:
        if png is None:
            deck.text(slide, left, [Para(report.chart_note(chart))], BODY_PT, MSO_ANCHOR.MIDDLE)
        else:
            deck.picture(slide, png, left)
        if side is not None:
            side(slide, right)

    if side is None:
        deck.bullets(title, paras, notes, right, add_chart)
    else:
        slide = deck.slide(title, notes)
        add_chart(slide)
        deck.footer(slide)


def _title_slide(deck: SlideDeck) -> None:
    sc = deck.report.scorecard
    kam = str(sc.account.get("owner") or "")
    agenda = ", ".join(SLIDE_TITLES)
    slide = deck.slide(
        sc.name,
        f"Quarterly Business Review {fmt_quarter(sc.quarter)} with {sc.name}. Agenda: {agenda}.",
        deck.title_layout,
    )
    title = slide.shapes.title
    size = deck.fit_size([Para(sc.name, bold=True)], box_of(title), 40) or MIN_PT
    deck.fill_frame(
        title.text_frame,
        [Para(truncate(sc.name, Emu(title.width - 2 * PAD_X).pt, size, 2, True), bold=True)],
        size,
        MSO_ANCHOR.BOTTOM,
    )
    lines = [
        Para(f"Quarterly Business Review {fmt_quarter(sc.quarter)}", bold=True),
        Para(f"Key account manager: {kam}" if kam else "Key account manager"),
        Para(f"Period {fmt_date(sc.quarter.start)} – {fmt_date(sc.quarter.end)}"),
    ]
    sub = next((ph for ph in slide.placeholders if ph.placeholder_format.type == PP_PLACEHOLDER.SUBTITLE), None)
    if sub is None:
        top = title.top + title.height + Inches(0.2)
        sub = slide.shapes.add_textbox(title.left, top, title.width, min(Inches(1.6), deck.h - top - Inches(0.3)))
    size = deck.fit_size(lines, box_of(sub), 20) or MIN_PT
    deck.fill_frame(sub.text_frame, lines, size, align=PP_ALIGN.LEFT)


def _last_qbr(deck: SlideDeck, part: Part) -> None:
    prior, items = deck.report.previous_actions()
    title = part.on_slide
    if not items:
        text = (
            "No earlier QBR on record: this is the first QBR, so there are no agreed action items to follow up."
            if items is None
            else f"The {fmt_quarter(prior)} QBR produced no action items."
        )
        deck.bullets(title, [Para(text)], text)
        return
    done = sum(status == "done" for _, status in items)
    notes = (
        f"Of the {len(items)} action items agreed at the {fmt_quarter(prior)} QBR, {done} are done and "
        f"{len(items) - done} are not done yet.\n"
        + "\n".join(f"• {it.text} ({it.owner}, due {fmt_date(it.due)}): {st}; {it.evidence}" for it, st in items)
    )
    rows = [[it.text, it.owner, fmt_date(it.due), st] for it, st in items]
    _table_slides(
        deck,
        title,
        notes,
        ["Action", "Owner", "Due", "Status"],
        rows,
        [6.2, 2.2, 1.5, 1.1],
        status_col=3,
        wrap={0: 3, 1: 2},
    )


def _table_slides(
    deck: SlideDeck,
    title: str,
    notes: str,
    header: list[str],
    rows: list[list[str]],
    fracs: list[float],
    *,
    status_col: int | None = None,
    wrap: dict[int, int] | None = None,
    right: Sequence[int] = (),
    fills: list[str | None] | None = None,
) -> None:
    """A table at the largest size from TABLE_PT down to TABLE_FLOOR_PT that fits one slide, else over as many
    slides as it needs at TABLE_FLOOR_PT; cells cut to ``wrap[col]`` lines (default 1)."""
    box = deck.body
    widths = [box.width * f / sum(fracs) for f in fracs]
    for size in range(TABLE_PT, TABLE_FLOOR_PT - 1, -1):  # the largest size that fits one slide, else pages
        cut = [
            [truncate(t, Emu(int(widths[j] - 2 * CELL_X)).pt, size, (wrap or {}).get(j, 1)) for j, t in enumerate(r)]
            for r in rows
        ]
        pages = deck.table_pages(header, cut, fracs, box, size)
        if len(pages) == 1:
            break
    start = 0
    for i, page in enumerate(pages):
        slide = deck.slide(title + (CONTINUED if i else ""), notes)
        marks = {}
        for r, row in enumerate(page, start=1):
            key = (fills[start + r - 1] if fills else None) or (row[status_col] if status_col is not None else None)
            if key in RAG_FILL and status_col is not None:
                marks[(r, status_col)] = key
        deck.table(slide, box, header, page, fracs, size, marks, right)
        start += len(page)
        deck.footer(slide)


def _scorecard(deck: SlideDeck, part: Part) -> None:
    sc, cur = deck.report.scorecard, deck.report.currency
    rows, rags = [], []
    for kpi in sc.kpis.values():
        r = kpi_row(kpi, cur)
        rows.append([r["label"], r["value"], r["prior"], r["last_year"], r["target"], RAG_WORDS[r["rag"]]])
        rags.append(r["rag"])
    by = {w: [k.label for k in sc.kpis.values() if k.rag == w] for w in ("red", "amber", "green")}
    notes = "; ".join(f"{RAG_WORDS[w]} ({len(v)}): {', '.join(v)}" for w, v in by.items() if v) + "."
    header = ["KPI", fmt_quarter(sc.quarter), "Prior quarter", "Same quarter last year", "Target", "Status"]
    _table_slides(
        deck,
        part.on_slide,
        notes,
        header,
        rows,
        [3.6, 1.5, 1.5, 1.7, 1.4, 1.3],
        status_col=5,
        right=(1, 2, 3, 4),
        fills=rags,
    )


def _service_side(deck: SlideDeck) -> Callable[[Any, Box], None]:
    sc = deck.report.scorecard

    def side(slide: Any, box: Box) -> None:
        half = Box(box.left, box.top, box.width, (box.height - Inches(0.2)) // 2)
        for n, (frame, col, label) in enumerate(
            ((sc.worst_lanes, "lane", "Lane"), (sc.worst_carriers, "carrier", "Carrier"))
        ):
            b = Box(half.left, half.top + n * (half.height + Inches(0.2)), half.width, half.height)
            if frame.empty:
                note = deck.report.chart_note("worst_lanes" if col == "lane" else "worst_carriers")
                deck.text(slide, b, [Para(note)], TABLE_PT)
                continue
            fracs = [3.4, 0.9, 1.1]
            w = Emu(int(b.width * fracs[0] / sum(fracs) - 2 * CELL_X)).pt
            rows = [
                [truncate(str(r[col]), w, TABLE_PT), f"{int(r['late'])}", f"{r['otd_pct']:.1f}%"]
                for _, r in frame.head(4).iterrows()
            ]
            deck.table(slide, b, [f"{label} (most late first)", "Late", "OTD"], rows, fracs, TABLE_PT, right=(1, 2))

    return side


def _root_cause_slides(deck: SlideDeck, part: Part) -> None:
    """An internal deck (its report carries the root causes): the service section in full on a continuing slide,
    where its last bullets say where late deliveries concentrate and which complaints recur."""
    found = deck.report.insights.root_cause if deck.report.insights is not None else None
    if found is None:
        return
    figures = found.figures()
    if not (figures["hotspots"] or figures["pooled"] or figures["recurrence"]):
        return
    paras, notes = _section(deck.report, part.key)
    deck.bullets(part.on_slide, paras, notes, continues=True)


def _action_items(deck: SlideDeck, part: Part) -> None:
    items = deck.report.narrative.action_items
    _, notes = _section(deck.report, part.key)
    if items:
        rows = [[it.text, it.owner, fmt_date(it.due)] for it in items]
        header, fracs = ["Action", "Owner", "Due"], [7.4, 2.4, 1.6]
        _table_slides(deck, part.on_slide, notes, header, rows, fracs, wrap={0: 3, 1: 2})
    else:
        deck.bullets(part.on_slide, [Para("No action items this quarter.")], notes or "No action items.")


def _part_slides(deck: SlideDeck, part: Part) -> None:
    """The slides of one part of the outline: a table, a chart beside its text, or the text as bullets."""
    if part.key == "last_qbr":
        _last_qbr(deck, part)
    elif part.key == "scorecard":
        _scorecard(deck, part)
    elif part.key == "action_items":
        _action_items(deck, part)
    elif part.key == "service" and part.charts:
        _chart_slide(deck, part, _service_side(deck))
        _root_cause_slides(deck, part)
    elif part.charts:
        _chart_slide(deck, part)
    else:
        deck.bullets(part.on_slide, *_section(deck.report, part.key))


def build_deck(report: QbrReport, template: Path | None = None) -> bytes:
    """QbrReport, template (None = packaged default) → the .pptx file's bytes: a title slide, then the outline's
    parts in order."""
    deck = SlideDeck(open_template(template), report)
    _title_slide(deck)
    for part in PARTS:
        _part_slides(deck, part)
    clear_properties(deck.prs, report, deck.count)
    out = io.BytesIO()
    deck.prs.save(out)
    return out.getvalue()
