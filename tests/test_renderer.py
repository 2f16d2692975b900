"""Charts in a notebook (kam_helpers.qbr.renderer) and the scoped styles of every HTML output (kam_helpers.qbr.styles).

The renderer is checked in a real kernel: a plain ``alt.Chart`` displayed after ``import kam_helpers`` goes out as
Vega-Lite and SVG, never as Altair's default HTML with a script from a CDN.
"""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from kam_helpers.core.paths import TEMPLATES_DIR
from kam_helpers.qbr import renderer, styles

PLAIN_CHART = (
    "import altair as alt, pandas as pd\n"
    "alt.Chart(pd.DataFrame({'lane': ['A', 'B'], 'late': [3, 5]})).mark_bar().encode(x='lane:N', y='late:Q')"
)


def run_cells(*sources: str) -> list[list[dict]]:
    """Code cells → their outputs, run in a fresh python3 kernel."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(nb, kernel_name="python3", timeout=300, allow_errors=True).execute()
    return [cell.outputs for cell in nb.cells]


def test_a_plain_altair_chart_after_import_is_vega_lite_and_svg_in_the_theme() -> None:
    outputs = run_cells("import kam_helpers", PLAIN_CHART)[1]
    data = outputs[0]["data"]
    assert set(data) == {"application/vnd.vegalite.v5+json", "image/svg+xml", "text/plain"}
    assert "text/html" not in data and "cdn" not in str(data).lower()  # no script that loads Vega
    assert data["application/vnd.vegalite.v5+json"]["config"]["font"].startswith("Inter")  # the 'kam' theme
    assert data["image/svg+xml"].lstrip().startswith("<svg") and "https://" not in data["image/svg+xml"]


def test_without_kam_helpers_altair_would_load_vega_from_a_cdn() -> None:
    data = run_cells(PLAIN_CHART)[0][0]["data"]
    assert "cdn.jsdelivr.net" in data["text/html"]  # the problem the renderer solves


def test_a_renderer_the_analyst_enables_takes_over() -> None:
    outputs = run_cells("import kam_helpers", "import altair as alt\nalt.renderers.enable('html')", PLAIN_CHART)
    assert "text/html" in outputs[2][0]["data"]


def test_import_outside_a_kernel_sets_nothing_up_and_imports_no_altair() -> None:
    code = "import sys, kam_helpers; print(sorted(m for m in ('altair', 'pandas', 'IPython') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    assert renderer.set_up_kernel() is False


# -------------------------------------------------------------------------------------------- scoped styles


def selectors(css: str) -> list[str]:
    return [s.strip() for block in css.split("}") if "{" in block for s in block.split("{")[0].split(",")]


@pytest.mark.parametrize(
    "fragment",
    [
        '<div class="kam-cards"><div class="kam-card kam-red"><div class="kam-label">OTD</div></div></div>',
        '<table class="kam-table kam-scorecard"><tr><td>OTD</td><td class="num">97%</td>'
        '<td><span class="kam-rag kam-green">green</span></td></tr></table>',
        '<div class="kam-narrative"><h2>Service</h2><p>On time.</p></div>',
    ],
)
def test_a_fragment_carries_its_style_and_no_unscoped_selector(fragment: str) -> None:
    html = styles.styled(fragment)
    assert html.startswith('<div class="kam-scoped"><style>') and html.endswith(fragment + "</div>")
    css = re.search(r"<style>(.*)</style>", html, re.S).group(1)
    found = selectors(css)
    assert found and all(s == ".kam-scoped" or s.startswith(".kam-scoped ") for s in found), found
    classes = {c for attr in re.findall(r'class="([^"]*)"', fragment) for c in attr.split()}
    for s in found:  # only rules the fragment can use
        assert set(re.findall(r"\.([\w-]+)", s)) - {"kam-scoped"} <= classes, s


def test_the_whole_sheet_is_scoped_and_comes_from_the_templates_css() -> None:
    every = selectors(styles.stylesheet())
    assert all(s == ".kam-scoped" or s.startswith(".kam-scoped ") for s in every)
    assert not [s for s in every if " body" in s or ".kam-page" in s]  # page-only rules stay out
    css = (TEMPLATES_DIR / "report.css").read_text()
    assert ".kam-rag.kam-red { background: var(--kam-red); }" in css  # one source: the sheet the pages load
    assert ".kam-scoped .kam-rag.kam-red { background: var(--kam-red); }" in styles.stylesheet()


def test_text_columns_left_numbers_right() -> None:
    sheet = styles.stylesheet()
    assert re.search(r"\.kam-scoped \.kam-table td \{[^}]*text-align: left", sheet)
    assert re.search(r"\.kam-scoped \.kam-table \.num \{[^}]*text-align: right", sheet)


def test_every_html_output_of_the_qbr_carries_its_styles(book) -> None:
    from kam_helpers.qbr.report import QbrReport

    report = QbrReport.load("", "", str(book.workspace), audience="internal")
    shown = [report.header(), report.kpi_cards(), report.scorecard_table(), report.last_qbr(), report.action_items()]
    shown += [report.health(), report.chart("worst_carriers")] if report.health() is not None else []
    for output in shown:
        html = output.data if hasattr(output, "data") else ""
        if html:
            assert html.startswith('<div class="kam-scoped"><style>'), html[:80]
    assert report.section("service")._repr_mimebundle_()["text/html"].startswith('<div class="kam-scoped"><style>')
