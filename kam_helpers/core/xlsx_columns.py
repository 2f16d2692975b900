"""An XlsxWriter worksheet for sheets of thousands of records: whole columns in, the sheet's XML out in one pass.

XlsxWriter spends about 9 µs of Python on each cell: a checked ``write_*`` call when it is written, then a
generic element writer when the file is closed. :class:`ColumnSheet` takes a column of cells at once
(:meth:`ColumnSheet.put_column`: one dimension check for the column, the cells stored as XlsxWriter stores
them) and writes its ``<sheetData>`` with one formatted string per cell. The file it makes is byte for byte the
one XlsxWriter's own writers make for the same cells (a test compares them); cells it has no fast form for
(formulas, rich strings, rows with their own format) go through XlsxWriter's writer unchanged.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import CellBlankTuple, CellBooleanTuple, CellNumberTuple, CellStringTuple, Worksheet

__all__ = ["CellBlankTuple", "CellBooleanTuple", "CellNumberTuple", "CellStringTuple", "ColumnSheet", "gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection inside the block (as it was after). Cells are many small tuples that form no
    cycle: a collection while they are made or written only walks the whole heap again (about 40 % of a
    10,000-row sheet's time in a report's process)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ColumnSheet(Worksheet):
    """A worksheet (``workbook.add_worksheet(name, worksheet_class=ColumnSheet)``) that also takes whole columns
    of cells and writes its cells' XML faster; everything else is XlsxWriter's."""

    def put_column(self, first_row: int, col: int, cells: Sequence[tuple | None]) -> None:
        """XlsxWriter cell tuples (CellNumberTuple, CellStringTuple with its shared-string index, CellBlankTuple,
        CellBooleanTuple; None: no cell) stored down column ``col`` from ``first_row``, as the ``write_*``
        methods store them; cells beyond the sheet's last row are dropped, as XlsxWriter drops them."""
        cells = cells[: max(0, self.xls_rowmax - first_row)]
        filled = [i for i in ((0, len(cells) - 1) if cells else ()) if cells[i] is not None]
        if len(filled) < 2:  # a blank end: look for the first and last cells
            filled = [i for i, cell in enumerate(cells) if cell is not None]
        if not filled or self._check_dimensions(first_row + filled[0], col):
            return
        self._check_dimensions(first_row + filled[-1], col)
        table = self.table
        for row, cell in enumerate(cells, start=first_row):
            if cell is not None:
                table[row][col] = cell

    def _calculate_spans(self) -> None:
        # XlsxWriter's spans (the columns used in each block of 16 rows), from each row's first and last cell
        # instead of a test of every column of every row.
        if self.comments:
            super()._calculate_spans()
            return
        spans: dict[int, str] = {}
        low: int | None = None
        high = 0
        for row_num in range(self.dim_rowmin, self.dim_rowmax + 1):
            cells = self.table.get(row_num)
            if cells:
                first, last = min(cells), max(cells)
                low, high = (first, last) if low is None else (min(low, first), max(high, last))
            if (row_num + 1) % 16 == 0 or row_num == self.dim_rowmax:
                if low is not None:
                    spans[row_num // 16] = f"{low + 1}:{high + 1}"
                    low = None
        self.row_spans = spans

    def _write_rows(self) -> None:
        # XlsxWriter's _write_rows with its per-cell writer inlined for the common cells; the same bytes.
        self._calculate_spans()
        names = [xl_col_to_name(c) for c in range(self.dim_colmax + 1)]
        xf: dict[Format, str] = {}  # a format → its style attribute
        write = self.fh.write
        for row_num in range(self.dim_rowmin, self.dim_rowmax + 1):
            cells = self.table.get(row_num)
            info = self.row_info.get(row_num)
            if not cells:
                if info is not None or row_num in self.comments:
                    self._write_empty_row(row_num, self.row_spans.get(row_num // 16), info)
                continue
            self._write_row(row_num, self.row_spans.get(row_num // 16), info)
            number = str(row_num + 1)
            parts: list[str] = []
            for col_num, cell in sorted(cells.items()):
                fmt = cell.format
                if fmt is None:
                    write("".join(parts))
                    parts.clear()
                    self._write_cell(row_num, col_num, cell)  # a row's or a column's own format may apply
                    continue
                style = xf.get(fmt)
                if style is None:
                    style = xf[fmt] = f'" s="{fmt._get_xf_index()}"'
                kind = type(cell)
                if kind is CellNumberTuple or cell.__class__.__name__ == "Datetime":
                    parts.append(f'<c r="{names[col_num]}{number}{style}><v>{cell.number:.16G}</v></c>')
                elif kind is CellStringTuple:
                    parts.append(f'<c r="{names[col_num]}{number}{style} t="s"><v>{cell.string}</v></c>')
                elif kind is CellBlankTuple:
                    parts.append(f'<c r="{names[col_num]}{number}{style}/>')
                elif kind is CellBooleanTuple:
                    parts.append(f'<c r="{names[col_num]}{number}{style} t="b"><v>{cell.boolean}</v></c>')
                else:
                    write("".join(parts))
                    parts.clear()
                    self._write_cell(row_num, col_num, cell)
            parts.append("</row>")
            write("".join(parts))


def number_cells(values: Sequence[float | None], fmt: Format | None) -> list[Any]:
    """Numbers (None: a blank cell) → XlsxWriter number cells in ``fmt``; ValueError for NaN or infinity (which
    XlsxWriter's ``write_number`` refuses too)."""
    blank = CellBlankTuple(fmt) if fmt is not None else None
    cells: list[Any] = []
    for v in values:
        if v is None:
            cells.append(blank)
        elif v - v != 0:  # NaN or ±inf
            raise ValueError(f"{v}: a number cell needs a finite number (write NaN as None, a blank cell)")
        else:
            cells.append(CellNumberTuple(v, fmt))
    return cells
