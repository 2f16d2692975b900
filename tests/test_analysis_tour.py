"""notebooks/analysis_tour.ipynb, the notebook an analyst copies: it runs clean on the sample book from notebooks/,
its parameters are documented, and its Excel export holds the figures it showed, as values."""

from __future__ import annotations

from pathlib import Path

import nbformat
import openpyxl
import papermill as pm
import pytest
from conftest import Book

import kam_helpers as kam
from kam_helpers.core.paths import notebooks_dir

TOUR = notebooks_dir() / "analysis_tour.ipynb"


def test_the_tour_documents_its_parameters() -> None:
    params = pm.inspect_notebook(str(TOUR))
    assert set(params) == {"account_id", "compare_with", "quarter", "workspace", "excel_path"}
    assert all(p["inferred_type_name"] == "str" and p["help"] for p in params.values())


@pytest.mark.batch
def test_the_tour_runs_on_the_sample_book_and_exports_to_excel(book: Book, tmp_path: Path) -> None:
    out, xlsx = tmp_path / "tour.ipynb", tmp_path / "tour.xlsx"
    pm.execute_notebook(
        str(TOUR),
        str(out),
        parameters={
            "account_id": book.at_risk,
            "compare_with": book.healthy,
            "workspace": str(book.workspace),
            "excel_path": str(xlsx),
        },
        cwd=str(notebooks_dir()),
        kernel_name="python3",
        progress_bar=False,
    )
    ran = nbformat.read(out, as_version=4)
    assert not [o for c in ran.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    chart = next(c for c in ran.cells if "alt.Chart" in c.source)
    assert chart.outputs, "the chart cell shows the chart"
    book_xlsx = openpyxl.load_workbook(xlsx)
    assert book_xlsx.sheetnames == ["Weekly OTD", "Worst lanes", "Compared"]
    compared = [[cell.value for cell in row] for row in book_xlsx["Compared"].iter_rows()]
    assert compared[0] == ["kpi", book.at_risk, book.healthy]
    with kam.open(book.workspace) as ws:
        expected = ws.account(book.at_risk).scorecard(book.quarter).value("otd_pct")
    assert dict((row[0], row[1]) for row in compared[1:])["otd_pct"] == pytest.approx(expected)
    assert not any(
        isinstance(cell.value, str) and cell.value.startswith("=")
        for sheet in book_xlsx
        for row in sheet.iter_rows()
        for cell in row
    )
