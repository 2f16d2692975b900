"""Spreadsheets and CSV files that never turn data into a formula (OWASP "CSV injection").

One policy, :func:`is_formula_like`: text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return would be read by Excel or LibreOffice as a formula (``=HYPERLINK("http://x","y")``, ``+1-2``,
``@SUM(A1)``). Numbers are never touched: a negative number stays a number.

- CSV (:func:`neutralize`, :func:`csv_bytes`, :func:`csv_writer`): such text gets a leading ``'``, as OWASP
  advises, so a spreadsheet opening the file shows it as text.
- Excel (:class:`ExcelBook`): every string is stored as a string cell (XlsxWriter with
  ``strings_to_formulas=False``), and formula-like text also carries Excel's own "quote prefix" style, so it
  stays text when someone edits the cell; the cell's value is the data as it was.

Every spreadsheet and CSV the product writes goes through this module: the activity workbook, the explorer's
downloads, the invoice-audit export and the import's rejects file.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from kam_helpers.core.xlsx_columns import (
    CellBlankTuple,
    CellBooleanTuple,
    CellNumberTuple,
    CellStringTuple,
    ColumnSheet,
    gc_paused,
    number_cells,
)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
DATE_FORMAT, DATETIME_FORMAT = "yyyy-mm-dd", "yyyy-mm-dd hh:mm"
XLSX_OPTIONS: dict[str, Any] = {
    "strings_to_formulas": False,  # a string is a string, whatever its first character
    "strings_to_numbers": False,
    "strings_to_urls": False,
    "nan_inf_to_errors": False,
    "remove_timezone": True,
}


def is_formula_like(value: object) -> bool:
    """True for text a spreadsheet would run as a formula: '=1+1', '+1-2', '-2+3', '@SUM(A1)', '\\t=1'.

    >>> [is_formula_like(v) for v in ("=1+1", "@x", "A-1", -5, "", None)]
    [True, True, False, False, False, False]
    """
    return isinstance(value, str) and value.startswith(FORMULA_START)


def neutralize(value: Any) -> Any:
    """A CSV cell → the same value, except formula-like text, which gets a leading "'" (numbers, dates and
    None are returned unchanged).

    >>> neutralize('=HYPERLINK("http://x","y")'), neutralize(-12.5), neutralize("Rotterdam")
    ('\\'=HYPERLINK("http://x","y")', -12.5, 'Rotterdam')
    """
    return QUOTE + value if is_formula_like(value) else value


def _is_text_column(column: pd.Series) -> bool:
    return (
        column.dtype == object
        or isinstance(column.dtype, pd.StringDtype | pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(column.dtype)
    )


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Frame → a copy whose text cells are :func:`neutralize`-d (and text column names too); numeric, boolean
    and date columns are left as they are. The input is not changed."""
    out = frame.copy()
    for name in out.columns:
        if _is_text_column(out[name]):
            out[name] = out[name].astype(object).map(neutralize)
    return out.rename(columns=neutralize)


def csv_bytes(frame: pd.DataFrame, *, bom: bool = True) -> bytes:
    """Frame → CSV bytes (UTF-8, with a BOM by default so Excel shows accents right), every text cell
    neutralised, numbers written as numbers, no index; CRLF line ends (RFC 4180), so that a field holding a
    carriage return or a newline is quoted."""
    text = neutralize_frame(frame).to_csv(index=False, lineterminator="\r\n")
    return text.encode("utf-8-sig" if bom else "utf-8")


class SafeCsvWriter:
    """``csv.writer`` whose rows go through :func:`neutralize` (same ``writerow`` / ``writerows``)."""

    def __init__(self, fh: IO[str], **fmtparams: Any) -> None:
        self._writer = csv.writer(fh, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralize(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(fh: IO[str], **fmtparams: Any) -> SafeCsvWriter:
    """An open text file → a CSV writer that neutralises every cell (see :class:`SafeCsvWriter`)."""
    return SafeCsvWriter(fh, **fmtparams)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | decimal.Decimal | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


_EXCEL_EPOCH = pd.Timestamp("1899-12-31")
_FIRST_SERIAL_DAY = pd.Timestamp("1900-03-01")  # from here on a serial is days since the epoch + 1 (1900 "leap day")


def excel_serials(stamps: pd.Series) -> np.ndarray:
    """datetime64 values → the Excel serial numbers XlsxWriter's ``write_datetime`` stores for them, the same
    float operations on whole columns (days + (seconds + microseconds / 1e6) / 86400, + 1 from March 1900);
    NaN for NaT and for days before 1 March 1900.

    >>> excel_serials(pd.Series(pd.to_datetime(["2026-07-01 12:00", None]))).tolist()
    [46204.5, nan]
    """
    values = pd.to_datetime(stamps).dt.tz_localize(None) if getattr(stamps.dt, "tz", None) else stamps
    ns = values.to_numpy(dtype="datetime64[ns]").astype("int64") - _EXCEL_EPOCH.value
    day = 86_400 * 10**9
    days = ns // day
    rest = ns - days * day
    seconds, micros = rest // 10**9, (rest % 10**9) // 1000
    serials = days + (seconds.astype("float64") + micros.astype("float64") / 1e6) / (60 * 60 * 24) + 1
    serials[(values.isna() | (values < _FIRST_SERIAL_DAY)).to_numpy()] = np.nan
    return serials


class ExcelBook:
    """One .xlsx workbook (XlsxWriter) in which data can only become values: strings are string cells,
    numbers number cells, dates date cells, and formula-like text is marked with a quote prefix.

    ``target`` is a path, or None to build the file in memory (:meth:`close` then returns its bytes).
    Formats are made with :meth:`format` so that the quote-prefixed twin of each one can be derived, sheets with
    :meth:`add_sheet`, whose sheets take whole columns (:meth:`write_strings`, :meth:`write_numbers`, ...) for a
    fraction of the cost of one call per cell (:mod:`kam_helpers.core.xlsx_columns`).
    """

    def __init__(self, target: str | Path | None = None) -> None:
        self._buffer = io.BytesIO() if target is None else None
        options = dict(XLSX_OPTIONS, in_memory=True)
        self.workbook = xlsxwriter.Workbook(self._buffer if target is None else str(target), options)
        self._props: dict[int, dict[str, Any]] = {}
        self._cache: dict[tuple, Format] = {}
        self.date = self.format({"num_format": DATE_FORMAT})
        self.datetime = self.format({"num_format": DATETIME_FORMAT})
        self.header = self.format({"bold": True})

    def format(self, props: Mapping[str, Any] | None = None) -> Format:
        """Format properties (XlsxWriter's names) → the workbook's format for them (one per distinct set)."""
        clean = dict(props or {})
        key = tuple(sorted((k, repr(v)) for k, v in clean.items()))
        if key not in self._cache:
            fmt = self.workbook.add_format(clean)
            self._cache[key] = fmt
            self._props[id(fmt)] = clean
        return self._cache[key]

    def _quoted(self, fmt: Format | None) -> Format:
        props = {} if fmt is None else self._props.get(id(fmt))
        if props is None:
            raise ValueError("ExcelBook.write: use a format made with ExcelBook.format()")
        return self.format({**props, "quote_prefix": True})

    def add_sheet(self, name: str) -> Worksheet:
        """A new worksheet named ``name`` (cut to Excel's 31 characters)."""
        return self.workbook.add_worksheet(name[:31], worksheet_class=ColumnSheet)

    @staticmethod
    def _columns(ws: Worksheet) -> ColumnSheet:
        if not isinstance(ws, ColumnSheet):
            raise ValueError("ExcelBook: write whole columns into a sheet made with ExcelBook.add_sheet()")
        return ws

    def write(self, ws: Worksheet, row: int, col: int, value: Any, fmt: Format | None = None) -> int:
        """Write one value as what it is (blank, boolean, number, date, text); returns its display width.

        Text is always a string cell; formula-like text also gets the quote-prefix style."""
        if value is None or (not isinstance(value, str) and np.ndim(value) == 0 and pd.isna(value)):
            ws.write_blank(row, col, None, fmt)
            return 0
        if isinstance(value, bool | np.bool_):
            ws.write_boolean(row, col, bool(value), fmt)
            return 5
        if _is_number(value) and np.isfinite(float(value)):
            ws.write_number(row, col, float(value), fmt)
            return len(f"{float(value):,.2f}") + 2
        if isinstance(value, pd.Timestamp | dt.datetime | np.datetime64):
            stamp = pd.Timestamp(value)
            if stamp.tzinfo is not None:
                stamp = stamp.tz_localize(None)
            ws.write_datetime(row, col, stamp.to_pydatetime(), fmt or self.datetime)
            return 16
        if isinstance(value, dt.date):
            ws.write_datetime(row, col, dt.datetime.combine(value, dt.time()), fmt or self.date)
            return 10
        text = str(value)
        ws.write_string(row, col, text, self._quoted(fmt) if is_formula_like(text) else fmt)
        return len(text)

    def write_strings(
        self, ws: Worksheet, first_row: int, col: int, texts: Sequence[str | None], fmt: Format | None = None
    ) -> int:
        """Texts written down a column from ``first_row`` as string cells (None: a blank cell; formula-like text
        with the quote-prefix style, as :meth:`write` does) → the longest text's length."""
        sheet = self._columns(ws)
        quoted = None
        blank = CellBlankTuple(fmt) if fmt is not None else None
        longest = sheet.xls_strmax // 2  # longer text may need cutting to Excel's limit: write_string does it
        string_index = sheet.str_table._get_shared_string_index  # what write_string stores: its shared string
        cells: list[tuple | None] = []
        width = 0
        with gc_paused():
            for row, text in enumerate(texts, start=first_row):
                if text is None:
                    cells.append(blank)
                    continue
                style = fmt
                if text.startswith(FORMULA_START):
                    style = quoted = quoted or self._quoted(fmt)
                if len(text) > longest:
                    sheet.write_string(row, col, text, style)
                    cells.append(None)
                else:
                    cells.append(CellStringTuple(string_index(text), style))
                width = max(width, len(text))
            sheet.put_column(first_row, col, cells)
        return width

    def write_numbers(
        self, ws: Worksheet, first_row: int, col: int, values: Sequence[float | None], fmt: Format | None = None
    ) -> None:
        """Finite numbers written down a column from ``first_row`` as number cells (None: a blank cell)."""
        with gc_paused():
            self._columns(ws).put_column(first_row, col, number_cells(values, fmt))

    def write_booleans(
        self, ws: Worksheet, first_row: int, col: int, flags: Sequence[bool | None], fmt: Format | None = None
    ) -> None:
        """Flags written down a column from ``first_row`` as boolean cells (None: a blank cell)."""
        blank = CellBlankTuple(fmt) if fmt is not None else None
        with gc_paused():
            cells = [blank if f is None else CellBooleanTuple(1 if f else 0, fmt) for f in flags]
            self._columns(ws).put_column(first_row, col, cells)

    def write_datetimes(self, ws: Worksheet, first_row: int, col: int, stamps: pd.Series, fmt: Format | None) -> None:
        """Timestamps (datetime64, NaT: a blank cell) written down a column from ``first_row`` as date cells:
        the serial numbers XlsxWriter's ``write_datetime`` stores (:func:`excel_serials`), computed for the
        whole column at once."""
        sheet = self._columns(ws)
        blank = CellBlankTuple(fmt) if fmt is not None else None
        cells: list[tuple | None] = []
        serials = excel_serials(stamps)
        with gc_paused():
            for row, (stamp, serial) in enumerate(zip(stamps.tolist(), serials.tolist(), strict=True), start=first_row):
                if stamp is pd.NaT or stamp is None:
                    cells.append(blank)
                elif serial != serial:  # NaN: a day before 1 March 1900, converted by XlsxWriter itself
                    sheet.write_datetime(row, col, stamp.to_pydatetime(), fmt)
                    cells.append(None)
                else:
                    cells.append(CellNumberTuple(serial, fmt))
            sheet.put_column(first_row, col, cells)

    def write_frame(
        self,
        ws: Worksheet,
        frame: pd.DataFrame,
        *,
        startrow: int = 0,
        header: bool = True,
        header_format: Format | None = None,
        formats: Mapping[str, Format] | None = None,
    ) -> list[int]:
        """A frame → cells from ``startrow`` (header row first unless ``header=False``), each column with its
        format from ``formats`` (default: by value); returns each column's widest display width."""
        columns = list(frame.columns)
        widths = [0] * len(columns)
        row = startrow
        if header:
            for j, name in enumerate(columns):
                widths[j] = self.write(ws, row, j, str(name), header_format or self.header)
            row += 1
        fmts: Sequence[Format | None] = [(formats or {}).get(str(c)) for c in columns]
        for record in frame.itertuples(index=False, name=None):
            for j, value in enumerate(record):
                widths[j] = max(widths[j], self.write(ws, row, j, value, fmts[j]))
            row += 1
        return widths

    def close(self) -> bytes:
        """Finish the file; → its bytes when built in memory (b'' when written to a path)."""
        with gc_paused():
            self.workbook.close()
        return self._buffer.getvalue() if self._buffer is not None else b""


def frame_to_xlsx(frame: pd.DataFrame, sheet: str = "Sheet1", max_width: int = 40) -> bytes:
    """Frame → the bytes of a one-sheet .xlsx: bold header row frozen, autofilter, columns sized to content."""
    return frames_to_xlsx({sheet: frame}, max_width)


def frames_to_xlsx(sheets: dict[str, pd.DataFrame], max_width: int = 40) -> bytes:
    """{sheet name: frame} → the bytes of an .xlsx, a sheet per frame as :func:`frame_to_xlsx` writes it."""
    book = ExcelBook()
    for name, frame in sheets.items():
        ws = book.add_sheet(name)
        widths = book.write_frame(ws, frame)
        for j, width in enumerate(widths):
            ws.set_column(j, j, min(max(width, 6) + 2, max_width))
        ws.freeze_panes(1, 0)
        if len(frame.columns):
            ws.autofilter(0, 0, max(len(frame), 1), len(frame.columns) - 1)
    return book.close()
