"""Tests of kam_helpers.core.safe_output: one formula policy, applied by every CSV and Excel writer of the product."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from kam_helpers.apps import downloads
from kam_helpers.core import safe_output
from kam_helpers.core.errors import Problem
from kam_helpers.core.safe_output import ExcelBook, csv_bytes, frame_to_xlsx, is_formula_like, neutralize
from kam_helpers.data.importer import write_rejects

HOSTILE = ['=HYPERLINK("http://x","y")', "+1-2", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize(
    "value, expected",
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1-2", "'+1-2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-5", "'-5"),  # text that looks like a number is still text from the data
        ("Rotterdam → Milan", "Rotterdam → Milan"),
        ("A=B", "A=B"),  # only the first character counts
        ("", ""),
        (-12.5, -12.5),  # a negative number is a number
        (-3, -3),
        (np.float64(-1.5), np.float64(-1.5)),
        (None, None),
        (dt.date(2026, 7, 1), dt.date(2026, 7, 1)),
        (True, True),
    ],
)
def test_neutralize(value, expected) -> None:
    assert neutralize(value) == expected
    assert is_formula_like(value) == (isinstance(value, str) and value != expected)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lane": HOSTILE,
            "variance": [-12.5, 3.0, -0.25, 0.0, -7.0, 1.0],
            "count": pd.array([-1, 2, None, 4, 5, 6], dtype="Int64"),
            "on_time": [True, False, True, None, False, True],
            "ship_date": pd.to_datetime(["2026-07-01"] * 6),
            "kind": pd.Categorical(["=x", "ok", "ok", "@y", "ok", "ok"]),
        }
    )


def test_csv_neutralises_text_and_keeps_numbers() -> None:
    frame = _frame()
    rows = list(csv.reader(io.StringIO(csv_bytes(frame).decode("utf-8-sig"), newline="")))
    assert rows[0] == list(frame.columns)
    assert [r[0] for r in rows[1:]] == ["'" + v for v in HOSTILE]
    assert [r[1] for r in rows[1:]] == ["-12.5", "3.0", "-0.25", "0.0", "-7.0", "1.0"]  # numbers stay numbers
    assert rows[1][2] == "-1" and rows[1][5] == "'=x" and rows[4][5] == "'@y"
    assert frame["lane"].tolist() == HOSTILE, "the input frame is not changed"
    back = pd.read_csv(io.BytesIO(csv_bytes(frame)), encoding="utf-8-sig")
    assert back["variance"].dtype == float and back["variance"].sum() == pytest.approx(frame["variance"].sum())


def test_csv_writer_neutralises_every_row(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = safe_output.csv_writer(fh)
        w.writerow(["value", "row"])
        w.writerows([[v, -i] for i, v in enumerate(HOSTILE, start=1)])
    rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    assert rows[1:] == [["'" + v, str(-i)] for i, v in enumerate(HOSTILE, start=1)]


def test_import_rejects_file_neutralises_values(tmp_path: Path) -> None:
    problems = [Problem("loads.csv", 3, "Lane", v, "a known lane", "shipments", "@ACC") for v in HOSTILE] + [
        Problem("loads.csv", 9, "Weight", "-5", "a weight of at least 0", "shipments", "C100")
    ]
    path = write_rejects(tmp_path / "rejects", "=evil", problems)
    rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    assert sorted(r["value"] for r in rows) == sorted(["'" + v for v in HOSTILE] + ["'-5"])
    assert {r["account_id"] for r in rows} == {"'@ACC", "C100"} and {r["row"] for r in rows} == {"3", "9"}
    for r in rows:
        for cell in r.values():
            assert not is_formula_like(cell)


def _cells(xlsx: bytes) -> list:
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    return [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]


def test_excel_book_stores_text_as_text_numbers_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    book = ExcelBook(path)
    ws = book.add_sheet("A sheet name that is longer than Excel's limit")
    money = book.format({"num_format": "#,##0.00"})
    values = [
        *HOSTILE,
        -12.5,
        3,
        np.int64(-4),
        True,
        None,
        float("nan"),
        dt.date(2026, 7, 1),
        pd.Timestamp("2026-07-01 08:30"),
    ]
    for i, v in enumerate(values):
        book.write(ws, i, 0, v, money if isinstance(v, float) else None)
    assert book.close() == b""
    wb = openpyxl.load_workbook(path)
    sheet = wb.worksheets[0]
    assert sheet.title == "A sheet name that is longer tha"
    got = [sheet.cell(i + 1, 1) for i in range(len(values))]
    for cell, v in zip(got[: len(HOSTILE)], HOSTILE, strict=True):
        value = cell.value.replace("_x000D_", "\r")  # openpyxl leaves Excel's escape of CR as it is
        assert (value, cell.data_type, cell.quotePrefix) == (v, "s", True)
    assert [(c.value, c.data_type) for c in got[len(HOSTILE) : len(HOSTILE) + 4]] == [
        (-12.5, "n"),
        (3, "n"),
        (-4, "n"),
        (True, "b"),
    ]
    assert got[len(HOSTILE)].number_format == "#,##0.00" and not got[len(HOSTILE)].quotePrefix
    assert got[-4].value is None and got[-3].value is None
    assert got[-2].value == dt.datetime(2026, 7, 1) and got[-2].number_format == "yyyy-mm-dd"
    assert got[-1].value == dt.datetime(2026, 7, 1, 8, 30)


def test_excel_book_refuses_a_format_it_did_not_make() -> None:
    book = ExcelBook()
    ws = book.add_sheet("x")
    foreign = book.workbook.add_format({"bold": True})
    with pytest.raises(ValueError, match="ExcelBook.format"):
        book.write(ws, 0, 0, "=1+1", foreign)
    book.write(ws, 0, 0, "plain text", foreign)  # only formula-like text needs the quote-prefixed twin
    book.close()


def test_frame_to_xlsx_and_every_writer_hold_no_formula() -> None:
    frame = _frame()
    writers = {
        "frame_to_xlsx": frame_to_xlsx(frame, "Shipments"),
        "explorer download": downloads.to_xlsx_bytes(frame),
    }
    for name, xlsx in writers.items():
        cells = _cells(xlsx)
        assert not [c.coordinate for c in cells if c.data_type == "f"], name
        lanes = [c.value for c in cells if c.column == 1 and c.row > 1]
        assert [v.replace("_x000D_", "\r") for v in lanes] == HOSTILE, name  # openpyxl leaves CR escaped
        variance = [c for c in cells if c.column == 2 and c.row > 1]
        assert all(c.data_type == "n" for c in variance) and variance[0].value == -12.5, name
    back = pd.read_excel(io.BytesIO(downloads.to_xlsx_bytes(frame)))
    assert back["variance"].tolist() == frame["variance"].tolist()
    assert downloads.to_csv_bytes(frame) == csv_bytes(frame)


def test_column_writers_store_what_the_cell_writers_store() -> None:
    """write_strings and write_datetimes (whole columns at once) give the cells write_string / write_datetime
    give: hostile text stays text with the quote prefix, dates keep their exact serial, NaT is blank, and a day
    before March 1900 (Excel's leap-year quirk) is still right."""
    texts = ["plain", '=HYPERLINK("http://x","y")', None, "<script>alert(1)</script>"]
    stamps = pd.Series(
        pd.to_datetime(
            ["2026-07-01 12:34:56.789", None, "1900-02-10 06:00:00", "1999-12-31 23:59:00"], format="ISO8601"
        )
    )
    book = ExcelBook()
    fmt = book.format({"num_format": "yyyy-mm-dd hh:mm"})
    ws = book.add_sheet("Columns")
    assert book.write_strings(ws, 0, 0, texts, book.header) == len(texts[1])  # the longest
    book.write_datetimes(ws, 0, 1, stamps, fmt)
    for row, (text, stamp) in enumerate(zip(texts, stamps, strict=True)):
        book.write(ws, row, 2, text, book.header)
        book.write(ws, row, 3, None if pd.isna(stamp) else stamp, fmt)
    sheet = openpyxl.load_workbook(io.BytesIO(book.close()))["Columns"]
    for row in sheet.iter_rows():
        assert (row[0].value, row[0].quotePrefix) == (row[2].value, row[2].quotePrefix)
        assert (row[1].value, row[1].number_format) == (row[3].value, row[3].number_format)
    assert sheet["A2"].quotePrefix and sheet["A2"].data_type == "s"
    assert sheet["B1"].value == dt.datetime(2026, 7, 1, 12, 34, 56, 789000) and sheet["B2"].value is None


def _sheet_files(book: ExcelBook) -> dict[str, bytes]:
    """A closed book → its parts but the document properties (which carry the time of writing)."""
    with zipfile.ZipFile(io.BytesIO(book.close())) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n != "docProps/core.xml"}


def test_column_sheets_write_the_bytes_xlsxwriter_writes() -> None:
    """A sheet filled a column at a time (ColumnSheet, the book's column writers) is byte for byte the file
    XlsxWriter's own per-cell writers make: numbers, shared strings in the same order, hostile text with its
    quote prefix, blanks with a format, booleans, dates, cells without a format under a row or column format,
    a row format on a row without cells, text beyond Excel's limit, and empty columns."""
    numbers = [1.5, None, -0.0, 1e-300, 123456789.125, 7.0]
    texts = ["Rotterdam → Milan", None, "=1+1", "Rotterdam → Milan", "a & <b>", "x" * 40_000]
    flags = [True, None, False, True, None, False]
    stamps = pd.Series(
        pd.to_datetime(["2026-07-01 12:34", None, "1900-02-10", "1999-12-31", None, "2026-01-01"], format="ISO8601")
    )

    def fill(book: ExcelBook, by_column: bool) -> None:
        fmt, date = book.format({"num_format": "#,##0.00"}), book.format({"num_format": "yyyy-mm-dd"})
        ws = book.add_sheet("Mix") if by_column else book.workbook.add_worksheet("Mix")  # XlsxWriter's own
        book.write(ws, 0, 0, "Header", book.header)
        ws.set_row(9, None, book.format({"bold": True}))  # a row with a format and no cell
        ws.set_row(3, None, fmt)  # a row whose format applies to its cells without one
        ws.set_column(6, 6, 12, date)
        if by_column:
            book.write_numbers(ws, 1, 0, numbers, fmt)
            book.write_strings(ws, 1, 1, texts, book.header)
            book.write_booleans(ws, 1, 2, flags, fmt)
            book.write_datetimes(ws, 1, 3, stamps, date)
            book.write_strings(ws, 1, 7, [], fmt)  # an empty frame's column, blanks without a format: no cell
            book.write_numbers(ws, 1, 8, [None, None])
        else:
            for row, (n, t, f, s) in enumerate(zip(numbers, texts, flags, stamps, strict=True), start=1):
                ws.write_blank(row, 0, None, fmt) if n is None else ws.write_number(row, 0, n, fmt)
                book.write(ws, row, 1, t, book.header)
                ws.write_blank(row, 2, None, fmt) if f is None else ws.write_boolean(row, 2, f, fmt)
                book.write(ws, row, 3, None if pd.isna(s) else s, date)
        for row in range(1, 7):  # cells without a format: the row's or the column's applies
            ws.write_number(row, 5, row)
            ws.write_number(row, 6, row)
        ws.write_string(4, 4, "rich?")
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, 6, 6)

    plain, columns = ExcelBook(), ExcelBook()
    fill(plain, by_column=False)
    fill(columns, by_column=True)
    assert _sheet_files(columns) == _sheet_files(plain)
