"""The analyst's own Excel files, written by the product's safe writer: values only, never a formula."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from kam_helpers.core.files import write_atomic
from kam_helpers.core.safe_output import frames_to_xlsx

MAX_WIDTH = 40  # characters: wider columns are cut to this on screen (the cell keeps its whole text)


def write_excel(path: str | Path, sheets: Mapping[str, pd.DataFrame]) -> Path:
    """Sheet name → DataFrame, written as one .xlsx at ``path`` (replaced whole, never half-written) → the path.
    Each sheet has a bold header row, frozen, with a filter; text stays text (formula-like text included: no
    cell is ever a formula), numbers and dates stay numbers and dates. A frame's index is written as columns
    when it is named (``compare``'s ``kpi``), left out when it is the default 0, 1, 2, ...

    >>> import openpyxl, tempfile
    >>> ws = kam.open()
    >>> compared = ws.compare(["A1", "A2"], "2026Q3", kpis=["shipments", "otd_pct"])
    >>> path = kam.write_excel(tempfile.mkdtemp() + "/a1.xlsx", {"Accounts": ws.accounts(), "Compare": compared})
    >>> book = openpyxl.load_workbook(path)
    >>> book.sheetnames, [[cell.value for cell in row] for row in book["Compare"].iter_rows()]
    (['Accounts', 'Compare'], [['kpi', 'A1', 'A2'], ['shipments', 2, 2], ['otd_pct', 50, 100]])
    """
    tables = {
        name: frame.reset_index() if any(n is not None for n in frame.index.names) else frame
        for name, frame in sheets.items()
    }
    target = Path(path)
    write_atomic(target, frames_to_xlsx(tables, MAX_WIDTH))
    return target
