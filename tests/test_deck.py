"""Tests of kam_helpers.exports.deck: slide order, scorecard = the HTML's strings, charts, notes, fitting, templates."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import store_qbr
from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE

from kam_helpers import metrics
from kam_helpers.analyses.assessment import ActionItem
from kam_helpers.core.errors import TemplateError
from kam_helpers.core.quarters import Quarter
from kam_helpers.exports import deck
from kam_helpers.qbr.narrative import build_narrative
from kam_helpers.qbr.outline import RAG_WORDS
from kam_helpers.qbr.report import QbrReport, kpi_row

QUARTER = "2026Q3"
LONG_LANE_ORIGIN = "Hafenlogistikzentrum Nord " * 5  # with ' → destination' well over 120 characters
FORMULA_LANE = '=HYPERLINK("http://x","y")'


@pytest.fixture(scope="module")
def report(book, tmp_path_factory: pytest.TempPathFactory) -> QbrReport:
    reports = store_qbr(book, book.at_risk, Quarter.parse(QUARTER).prior, tmp_path_factory.mktemp("reports"))
    return QbrReport.load(book.at_risk, QUARTER, book.workspace, reports_dir=reports)  # the first account at risk


def adversarial(report: QbrReport) -> QbrReport:
    """The report with a 120+ character lane, a formula-looking lane, an '@' account name and 14 action items."""
    ships = report.data.shipments.copy()
    in_q = metrics.shipments_in(ships, report.scorecard.quarter).index
    ships.loc[in_q[::3], "origin"] = LONG_LANE_ORIGIN.strip()
    ships.loc[in_q[1::7], "destination"] = FORMULA_LANE
    data = replace(
        report.data, shipments=ships, account={**report.data.account, "name": "@" + report.data.account["name"]}
    )
    sc = metrics.scorecard(data, report.scorecard.quarter)
    nar = build_narrative(sc)
    extra = [
        ActionItem(
            f"Follow-up {i}: review {LONG_LANE_ORIGIN.strip()} → Gothenburg with the site team and "
            "report back on dwell times, dock scheduling and carrier capacity",
            "Operations",
            dt.date(2026, 10, 30),
            "otd_pct",
        )
        for i in range(12)
    ]
    return QbrReport(data, sc, replace(nar, action_items=nar.action_items + extra))


@pytest.fixture(scope="module")
def prs(report: QbrReport) -> Presentation:
    return Presentation(io.BytesIO(deck.build_deck(report)))


@pytest.fixture(scope="module")
def hard_prs(report: QbrReport) -> Presentation:
    return Presentation(io.BytesIO(deck.build_deck(adversarial(report))))


def titles(prs: Presentation) -> list[str]:
    return [s.shapes.title.text for s in prs.slides]


def base_titles(prs: Presentation) -> list[str]:
    """Slide titles with continuation slides folded into the slide they continue."""
    out: list[str] = []
    for t in titles(prs):
        if not t.endswith(deck.CONTINUED):
            out.append(t)
        else:
            assert out and out[-1] == t[: -len(deck.CONTINUED)], t
    return out


def slides_titled(prs: Presentation, title: str) -> list:
    return [s for s in prs.slides if s.shapes.title.text in (title, title + deck.CONTINUED)]


def test_slide_titles_in_order(prs: Presentation, report: QbrReport) -> None:
    assert prs.slide_width * 9 == prs.slide_height * 16
    assert base_titles(prs) == [report.scorecard.name, *deck.SLIDE_TITLES]
    first = " ".join(sh.text_frame.text for sh in prs.slides[0].shapes if sh.has_text_frame)
    assert "Quarterly Business Review Q3 2026" in first and report.data.account["owner"] in first


def test_scorecard_cells_equal_the_html_strings(prs: Presentation, report: QbrReport) -> None:
    rows = []
    for slide in slides_titled(prs, "Scorecard"):
        table = next(sh.table for sh in slide.shapes if sh.has_table)
        rows += [[c.text for c in r.cells] for r in list(table.rows)[1:]]
    expected = [kpi_row(k, report.currency) for k in report.scorecard.kpis.values()]
    assert len(rows) == len(expected) and len(slides_titled(prs, "Scorecard")) == 2  # 22 KPIs: two slides
    for row, want in zip(rows, expected, strict=False):
        assert row[:5] == [want["label"], want["value"], want["prior"], want["last_year"], want["target"]]
        assert row[5] == RAG_WORDS[want["rag"]]


def test_rag_cells_are_filled(prs: Presentation) -> None:
    table = next(sh.table for sh in slides_titled(prs, "Scorecard")[0].shapes if sh.has_table)
    revenue = [c for c in table.rows[1].cells]
    assert revenue[0].text == "Revenue" and str(revenue[5].fill.fore_color.rgb) == deck.RAG_FILL["red"][0]


@pytest.mark.parametrize("title", list(deck.CHART_SLIDES))
def test_chart_slides_carry_a_picture(prs: Presentation, title: str) -> None:
    (slide,) = slides_titled(prs, title)
    assert any(sh.shape_type == MSO_SHAPE_TYPE.PICTURE for sh in slide.shapes)


def test_every_content_slide_has_notes_with_its_narrative(prs: Presentation, report: QbrReport) -> None:
    for slide in list(prs.slides)[1:]:
        assert slide.has_notes_slide and slide.notes_slide.notes_text_frame.text.strip(), slide.shapes.title.text
    (summary,) = slides_titled(prs, "Executive summary")
    first = report.narrative.section("executive_summary").bullets[0]
    assert first in summary.notes_slide.notes_text_frame.text


def test_last_qbr_items_have_a_status(prs: Presentation, report: QbrReport) -> None:
    prior, items = report.previous_actions()
    assert str(prior) == "2026Q2" and items
    table = next(sh.table for sh in slides_titled(prs, "Last QBR's action items")[0].shapes if sh.has_table)
    statuses = [r.cells[3].text for r in list(table.rows)[1:]]
    assert statuses == [s for _, s in items] and set(statuses) <= {"done", "open", "overdue"}


def test_no_prior_quarter_data_is_said(book) -> None:
    first = QbrReport.load(book.at_risk, "2024Q4", book.workspace)  # the sample's first quarter
    prior, items = first.previous_actions()
    assert items is None
    prs = Presentation(io.BytesIO(deck.build_deck(first)))
    (slide,) = slides_titled(prs, "Last QBR's action items")
    assert "No earlier QBR on record" in " ".join(sh.text_frame.text for sh in slide.shapes if sh.has_text_frame)


def _inside(shape, prs: Presentation) -> bool:
    return (
        shape.left >= 0
        and shape.top >= 0
        and shape.left + shape.width <= prs.slide_width
        and shape.top + shape.height <= prs.slide_height
    )


def test_long_lanes_and_many_actions_fit(hard_prs: Presentation) -> None:
    assert len(slides_titled(hard_prs, "Action items")) >= 2  # continued, not shrunk
    for slide in hard_prs.slides:
        for shape in slide.shapes:
            assert _inside(shape, hard_prs), (slide.shapes.title.text, shape.name)
            if shape.has_text_frame and shape.text_frame.text:
                assert deck.frame_fits(shape), (slide.shapes.title.text, shape.text_frame.text[:60])
                for p in shape.text_frame.paragraphs:
                    assert all(r.font.size is None or r.font.size.pt >= deck.MIN_PT for r in p.runs)
            if shape.has_table:
                for row in shape.table.rows:
                    for cell in row.cells:
                        assert all(r.font.size.pt >= deck.MIN_PT for p in cell.text_frame.paragraphs for r in p.runs)
    (service,) = slides_titled(hard_prs, "Service vs SLA")
    lanes = [r.cells[0].text for sh in service.shapes if sh.has_table for r in list(sh.table.rows)[1:]]
    assert any(lane.endswith(deck.ELLIPSIS) and lane.startswith("Hafenlogistikzentrum") for lane in lanes)


def test_text_measure_wraps_and_truncates() -> None:
    assert deck.lines_needed("word " * 40, 100, 12) > 5
    assert deck.lines_needed("short", 300, 12) == 1
    cut = deck.truncate("x" * 300, 200, 12)
    assert cut.endswith(deck.ELLIPSIS) and deck.lines_needed(cut, 200, 12) == 1


def test_properties_name_only_this_client(prs: Presentation, report: QbrReport) -> None:
    cp = prs.core_properties
    account = report.data.account
    assert cp.author == account["owner"] and account["name"] in cp.title and account["account_id"] in cp.subject
    assert cp.comments == "" and cp.last_modified_by == account["owner"]


def test_company_template_is_used_and_its_traces_removed(report: QbrReport, tmp_path: Path) -> None:
    brand = Presentation(str(deck.DEFAULT_TEMPLATE))
    brand.core_properties.author, brand.core_properties.comments = "Template Author", "Made for Other Client Ltd"
    example = brand.slides.add_slide(brand.slide_layouts[1])
    example.shapes.title.text = "Other Client Ltd example slide"
    brand.slide_layouts[5].name = "Brand Title Only"  # no layout named 'Title Only': fall back by shape
    path = tmp_path / "brand.pptx"
    brand.save(str(path))
    data = deck.build_deck(report, path)
    prs = Presentation(io.BytesIO(data))
    assert base_titles(prs) == [report.scorecard.name, *deck.SLIDE_TITLES]
    assert prs.core_properties.author == report.data.account["owner"]
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            assert b"Other Client" not in z.read(name) and b"Template Author" not in z.read(name), name


@pytest.mark.parametrize("content", [None, b"not a presentation"])
def test_unusable_template_names_the_file(report: QbrReport, tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "brand.pptx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TemplateError, match="brand.pptx.*expected"):
        deck.build_deck(report, path)


def test_default_template_is_small() -> None:
    assert deck.DEFAULT_TEMPLATE.stat().st_size < 100_000


@pytest.mark.office
def test_deck_renders_in_libreoffice(report: QbrReport, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None or shutil.which("pdftoppm") is None:
        pytest.skip("LibreOffice not installed")
    from PIL import Image, ImageStat

    src = tmp_path / "qbr.pptx"
    src.write_bytes(deck.build_deck(adversarial(report)))
    subprocess.run(
        [
            soffice,
            "--headless",
            f"-env:UserInstallation=file://{tmp_path / 'lo'}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(tmp_path / "qbr.pdf"), str(tmp_path / "slide")], check=True)
    pages = sorted(tmp_path.glob("slide-*.png"))
    assert len(pages) == len(Presentation(str(src)).slides)
    for page in pages:
        with Image.open(page) as img:
            assert img.width * 9 == pytest.approx(img.height * 16, rel=0.02)
            assert max(ImageStat.Stat(img.convert("L")).stddev) > 5, f"{page.name} is blank"
