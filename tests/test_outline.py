"""The QBR's one outline: the notebook, the narrative, the deck and the PDF follow it; KPI labels come from one table."""

from __future__ import annotations

import io
import re

import nbformat
import pytest
from pptx import Presentation
from pypdf import PdfReader
from test_deck import QUARTER

from kam_helpers.core.paths import notebooks_dir
from kam_helpers.exports import deck
from kam_helpers.exports.pdf import build_pdf
from kam_helpers.metrics.scorecard import KPI_SPECS
from kam_helpers.qbr import charts
from kam_helpers.qbr.outline import CARD_KPIS, NARRATIVE_PARTS, PARTS, RAG_WORDS, chart_title, part
from kam_helpers.qbr.report import QbrReport


@pytest.fixture(scope="module")
def report(book) -> QbrReport:
    return QbrReport.load(book.at_risk, QUARTER, book.workspace)


def test_every_chart_and_card_of_the_outline_exists() -> None:
    assert len({p.key for p in PARTS}) == len(PARTS)
    for p in PARTS:
        for chart in p.charts:
            assert callable(getattr(charts, chart.name)), chart.name
    assert set(CARD_KPIS) <= set(KPI_SPECS)
    assert set(RAG_WORDS) == {"green", "amber", "red", None}
    assert chart_title("mode_mix") == "Revenue by mode" and chart_title("new_chart") == "New chart"
    with pytest.raises(KeyError, match="parts are"):
        part("appendix")


def test_the_notebook_shows_the_parts_in_the_outline_order() -> None:
    nb = nbformat.read(notebooks_dir() / "qbr.ipynb", as_version=4)
    calls = [c.source for c in nb.cells if c.cell_type == "code"]
    shown = {
        "qbr.last_qbr()": "last_qbr",
        "qbr.kpi_cards()": "scorecard",
        "qbr.action_items()": "action_items",
    }
    order = []
    for call in calls:
        m = re.fullmatch(r'qbr\.(section|charts)\("(\w+)"\)', call)
        key = m.group(2) if m else shown.get(call)
        if key is not None and key not in order:
            order.append(key)
        if m and m.group(1) == "charts":
            assert part(key).charts, f"{call}: the outline gives this part no chart"
    assert order == [p.key for p in PARTS]
    for p in PARTS:  # every chart of the outline is shown: a part with charts has its charts cell
        assert bool(p.charts) == (f'qbr.charts("{p.key}")' in calls), p.key


def test_deck_and_pdf_follow_the_outline(report: QbrReport) -> None:
    prs = Presentation(io.BytesIO(deck.build_deck(report)))
    titles = [s.shapes.title.text for s in list(prs.slides)[1:] if not s.shapes.title.text.endswith(deck.CONTINUED)]
    assert titles == [p.on_slide for p in PARTS]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(build_pdf(report))).pages)
    headings = [report.narrative.section(p.key).title if p.narrative else p.title for p in PARTS]
    at = 0
    for heading in headings:  # each heading after the one before it
        at = text.find(heading, at)
        assert at >= 0, f"{heading!r} missing or out of order"


def test_the_narrative_sections_are_the_outline_parts(report: QbrReport) -> None:
    assert [s.key for s in report.narrative.sections] == [p.key for p in NARRATIVE_PARTS]


def test_one_kpi_label_table(report: QbrReport) -> None:
    """The reports' KPI labels are metrics' KPI_SPECS labels ('Damage and loss ratio'), also where the narrative
    names a KPI the scorecard does not hold."""
    from kam_helpers.analyses.assessment import kpi_of

    for key, kpi in report.scorecard.kpis.items():
        assert kpi.label == KPI_SPECS[key][0]
    client = report.scorecard  # the client's view holds no gross margin: the narrative's stand-in is labelled alike
    assert "gross_margin_pct" not in client.kpis
    assert kpi_of(client, "gross_margin_pct").label == KPI_SPECS["gross_margin_pct"][0]
    assert "Damage and loss ratio" in report.narrative.section("service").markdown
