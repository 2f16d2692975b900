"""QbrReport → the client activity workbook ``activity.xlsx``: Summary, Shipments, Invoices, Open cases.

Written with XlsxWriter through :class:`kam_helpers.core.safe_output.ExcelBook`, the one spreadsheet writer of
the product: a value from the data that starts with ``=``, ``+``, ``-`` or ``@`` — say
``=HYPERLINK("http://x","y")`` in a lane name — is stored as text (with Excel's quote prefix) and can never
run as a formula. openpyxl reads the result back in the tests.

Populations are the scorecard's own, read from the report's prepared account (metrics.prepare) rather than
derived again: the Shipments sheet holds :func:`metrics.shipments_in` of the quarter
(so its row count is the ``shipments`` KPI and its revenue column sums to the ``revenue`` KPI), Invoices
those issued in the quarter, Open cases those open at quarter end (the ``cases_backlog`` KPI).
Percentages are stored as fractions with a % format; money as numbers in the account's currency.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from xlsxwriter.worksheet import Worksheet

from kam_helpers import metrics
from kam_helpers.core.errors import NoDataError
from kam_helpers.core.formatting import currency_symbol, fmt_quarter
from kam_helpers.core.safe_output import ExcelBook
from kam_helpers.qbr.report import QbrReport

NO_DATA = "No data for this in the workspace"
MAX_WIDTH, MIN_WIDTH = 60, 8

# column key -> (header, kind); kinds: text, datetime, date, money, number, int, bool, kg, days
SHIPMENT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("shipment_id", "Shipment", "text"),
    ("pickup_planned", "Pickup planned", "datetime"),
    ("pickup_actual", "Pickup actual", "datetime"),
    ("delivery_promised", "Delivery promised", "datetime"),
    ("delivery_actual", "Delivery actual", "datetime"),
    ("lane", "Lane", "text"),
    ("origin", "Origin", "text"),
    ("destination", "Destination", "text"),
    ("mode", "Mode", "text"),
    ("carrier", "Carrier", "text"),
    ("status", "Status", "text"),
    ("on_time", "On time", "bool"),
    ("days_late", "Days late", "int"),
    ("weight_kg", "Weight (kg)", "kg"),
    ("pallets", "Pallets", "number"),
    ("revenue", "Billed", "money"),
    ("expected", "Expected (rate card)", "money"),
    ("variance", "Variance (billed − expected)", "money"),
)
INVOICE_COLUMNS = (
    ("invoice_id", "Invoice", "text"),
    ("issued", "Issued", "date"),
    ("due", "Due", "date"),
    ("paid", "Paid", "date"),
    ("amount", "Amount", "money"),
    ("status", "Status", "text"),
    ("days_to_pay", "Days to pay", "int"),
    ("days_overdue", "Days overdue at quarter end", "int"),
)
CASE_COLUMNS = (
    ("case_id", "Case", "text"),
    ("opened", "Opened", "datetime"),
    ("category", "Category", "text"),
    ("severity", "Severity", "text"),
    ("shipment_id", "Shipment", "text"),
    ("claim_amount", "Claim amount", "money"),
    ("status", "Status", "text"),
    ("root_cause", "Root cause", "text"),
    ("age_days", "Age at quarter end (days)", "int"),
)


def _day(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, errors="coerce").dt.normalize()


def shipments_frame(report: QbrReport) -> pd.DataFrame:
    """QbrReport → the quarter's shipments (metrics.shipments_in) with lane, on_time, days_late, expected and
    variance; one row per shipment the ``shipments`` KPI counts."""
    data, quarter = report.data, report.scorecard.quarter
    prep = metrics.as_prepared(report.prepared or data)
    if prep.shipments is None or prep.active is None or prep.deliveries is None:
        raise NoDataError(f"{data.account_id}: no data — the workspace has no shipments table")
    # prep.shipments (every column) and prep.active (rated) hold the same rows in the same order.
    in_quarter = metrics.Span.of(quarter).holds(prep.shipments["ship_date"]).to_numpy()
    ships = prep.shipments[in_quarter]
    rated = prep.active[in_quarter] if prep.rated else None
    priced = ships.assign(
        rate_id=pd.Series(None, index=ships.index, dtype=object) if rated is None else rated["rate_id"].to_numpy(),
        expected=float("nan") if rated is None else rated["expected"].to_numpy(),
    )
    quarter_events = prep.deliveries[prep.deliveries.index.isin(ships.index)]
    events = quarter_events.set_index("shipment_id")["on_time"]
    events = events[~events.index.duplicated()]
    promised, actual = _day(priced.get("delivery_promised")), _day(priced.get("delivery_actual"))
    as_of = pd.Timestamp(data.as_of).normalize() if data.as_of is not None else pd.NaT
    late = (actual - promised).dt.days.where(actual.notna(), (as_of - promised).dt.days)
    revenue = pd.to_numeric(priced["revenue"], errors="coerce")
    return priced.assign(
        lane=metrics.lanes(priced).to_numpy(),
        on_time=priced["shipment_id"].map(events).to_numpy(),
        days_late=late.clip(lower=0).where(priced["shipment_id"].isin(events.index)).to_numpy(),
        variance=(revenue - priced["expected"]).to_numpy(),
    )


def invoices_frame(report: QbrReport) -> pd.DataFrame:
    """QbrReport → invoices issued in the quarter with days_to_pay and days_overdue at quarter end."""
    inv = metrics.in_period(report.data.invoices, "issued", report.scorecard.quarter)
    end = pd.Timestamp(report.scorecard.quarter.end)
    paid, issued, due = _day(inv["paid"]), _day(inv["issued"]), _day(inv["due"])
    overdue = (end - due).dt.days.where((paid.isna() | (paid > end)) & (due < end))
    return inv.assign(days_to_pay=(paid - issued).dt.days, days_overdue=overdue)


def open_cases_frame(report: QbrReport) -> pd.DataFrame:
    """QbrReport → cases open at quarter end (opened by then, not closed by then), with their age in days."""
    cases = report.data.cases
    if cases is None:
        raise NoDataError(f"{report.data.account_id}: no data — the workspace has no cases table")
    stop = pd.Timestamp(report.scorecard.quarter.shift(1).start)
    opened, closed = pd.to_datetime(cases["opened"]), pd.to_datetime(cases["closed"])
    open_ = cases[(opened < stop) & (closed.isna() | (closed >= stop))]
    return open_.assign(age_days=(stop - pd.Timedelta(days=1) - _day(open_["opened"])).dt.days)


class _Writer:
    """Typed cell writers over one :class:`ExcelBook` (strings always as strings)."""

    def __init__(self, book: ExcelBook, currency: str | None) -> None:
        sym = currency_symbol(currency).replace('"', "")
        money = f'"{sym}"#,##0.00;-"{sym}"#,##0.00' if sym else "#,##0.00"
        self.book = book
        wb = book
        self.fmt = {
            "head": wb.format(
                {
                    "bold": True,
                    "bg_color": "#1F4E79",
                    "font_color": "#FFFFFF",
                    "text_wrap": True,
                    "valign": "top",
                    "border": 1,
                    "border_color": "#CBD2D9",
                }
            ),
            "title": wb.format({"bold": True, "font_size": 14, "font_color": "#1F4E79"}),
            "label": wb.format({"bold": True}),
            "text": wb.format({}),
            "datetime": wb.format({"num_format": "yyyy-mm-dd hh:mm"}),
            "date": wb.format({"num_format": "yyyy-mm-dd"}),
            "money": wb.format({"num_format": money}),
            "number": wb.format({"num_format": "#,##0"}),
            "int": wb.format({"num_format": "0"}),
            "kg": wb.format({"num_format": "#,##0.0"}),
            "pct": wb.format({"num_format": "0.0%"}),
            "days": wb.format({"num_format": "0.0"}),
            "hours": wb.format({"num_format": "0.0"}),
            "count": wb.format({"num_format": "#,##0"}),
            "bool": wb.format({"align": "center"}),
        }

    def cell(self, ws: Worksheet, row: int, col: int, value: Any, kind: str = "text") -> int:
        """Write one typed value; returns its display width (for column sizing)."""
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            ws.write_blank(row, col, None, self.fmt.get(kind))
            return 0
        if kind in ("datetime", "date"):
            ws.write_datetime(row, col, pd.Timestamp(value).to_pydatetime(), self.fmt[kind])
            return 16 if kind == "datetime" else 10
        if kind == "bool":
            ws.write_boolean(row, col, bool(value), self.fmt["bool"])
            return 5
        if kind == "text" or isinstance(value, str):
            return self.book.write(ws, row, col, str(value), self.fmt["text"])
        number = float(value) / 100 if kind == "pct" else float(value)
        ws.write_number(row, col, number, self.fmt[kind])
        return len(f"{float(value):,.2f}") + 2

    def column(self, ws: Worksheet, col: int, values: pd.Series, kind: str, first_row: int = 1) -> int:
        """A column of records written downwards from ``first_row``, each value typed as :meth:`cell` types it
        but converted once for the whole column (sheets hold thousands of rows) → its widest display width.
        A column whose values are not all of the kind's type (text in a number column) goes cell by cell."""
        rows = range(first_row, first_row + len(values))
        missing = values.isna().to_numpy().tolist()
        fmt = self.fmt.get(kind)
        if kind == "text":
            texts = [None if m else str(v) for v, m in zip(values.tolist(), missing, strict=True)]
            return self.book.write_strings(ws, first_row, col, texts, fmt)
        if kind in ("datetime", "date") and pd.api.types.is_datetime64_dtype(values.dtype):
            self.book.write_datetimes(ws, first_row, col, values, fmt)
            return 0 if all(missing) else 16 if kind == "datetime" else 10
        if kind == "bool":
            flags = [None if m else bool(f) for f, m in zip(values.tolist(), missing, strict=True)]
            self.book.write_booleans(ws, first_row, col, flags, fmt)
            return 0 if all(missing) else 5
        if kind not in ("datetime", "date", "bool", "text") and pd.api.types.is_numeric_dtype(values.dtype):
            floats = values.astype("float64")
            scale = 100.0 if kind == "pct" else 1.0
            numbers = [None if m else v / scale for v, m in zip(floats.tolist(), missing, strict=True)]
            self.book.write_numbers(ws, first_row, col, numbers, fmt)
            return _widest_number(floats.to_numpy()[~values.isna().to_numpy()])
        return max((self.cell(ws, r, col, v, kind) for r, v in zip(rows, values.tolist(), strict=True)), default=0)

    def table(self, ws: Worksheet, frame: pd.DataFrame, columns: Sequence[tuple[str, str, str]]) -> None:
        """A sheet of records: header row frozen, autofilter, column widths from the content."""
        widths = [len(h) for _, h, _ in columns]
        for j, (_, header, _) in enumerate(columns):
            self.book.write(ws, 0, j, header, self.fmt["head"])
        records = frame.reindex(columns=[k for k, _, _ in columns])
        for j, (key, _, kind) in enumerate(columns):
            widths[j] = max(widths[j], self.column(ws, j, records[key], kind))
        for j, w in enumerate(widths):
            ws.set_column(j, j, max(MIN_WIDTH, min(MAX_WIDTH, w + 2)))
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(1, len(frame)), len(columns) - 1)


def _widest_number(values: np.ndarray) -> int:
    """Finite numbers → the widest of their displays as '1,234.50' plus 2 (0 when there are none): the display
    grows with the size of the number, and with a minus sign, so the largest and the smallest decide."""
    if not len(values):
        return 0
    ends = [values.max(), values.min()] + ([-0.0] if bool(np.any((values == 0) & np.signbit(values))) else [])
    return max(len(f"{float(v):,.2f}") + 2 for v in ends)


def _no_data(w: _Writer, ws: Worksheet) -> None:
    ws.write_string(0, 0, NO_DATA, w.fmt["label"])
    ws.set_column(0, 0, len(NO_DATA) + 4)


def _summary(w: _Writer, ws: Worksheet, report: QbrReport, ships: pd.DataFrame | None) -> None:
    sc = report.scorecard
    a = sc.account
    w.book.write(ws, 0, 0, f"{sc.name} – activity report {fmt_quarter(sc.quarter)}", w.fmt["title"])
    facts = [
        ("Account", sc.name, "text"),
        ("Account id", sc.account_id, "text"),
        ("Quarter", f"{fmt_quarter(sc.quarter)} ({sc.quarter.start:%Y-%m-%d} to {sc.quarter.end:%Y-%m-%d})", "text"),
        ("Key account manager", a.get("owner"), "text"),
        ("Currency", a.get("currency"), "text"),
        ("Contract end", a.get("contract_end"), "date"),
        ("Data as of", report.data.as_of, "datetime"),
    ]
    for i, (label, value, kind) in enumerate(facts, start=2):
        ws.write_string(i, 0, label, w.fmt["label"])
        w.cell(ws, i, 1, value, kind)
    top = len(facts) + 3
    header = ["KPI", fmt_quarter(sc.quarter), "Prior quarter", "Same quarter last year", "Target", "Status"]
    for j, h in enumerate(header):
        ws.write_string(top, j, h, w.fmt["head"])
    for i, kpi in enumerate(sc.kpis.values(), start=top + 1):
        ws.write_string(i, 0, kpi.label, w.fmt["text"])
        for j, value in enumerate((kpi.value, kpi.prior, kpi.last_year, kpi.target), start=1):
            w.cell(ws, i, j, value, kpi.unit)
        w.cell(ws, i, 5, {"green": "on target", "amber": "watch", "red": "missed"}.get(kpi.rag or "", "no target"))
    row = top + len(sc.kpis) + 2
    if ships is not None:
        # Values, not formulas: no spreadsheet the product writes holds a formula (kam_helpers.core.safe_output).
        ws.write_string(row, 0, "Shipments sheet: rows", w.fmt["label"])
        w.cell(ws, row, 1, len(ships), "count")
        ws.write_string(row + 1, 0, "Shipments sheet: billed total", w.fmt["label"])
        w.cell(ws, row + 1, 1, float(pd.to_numeric(ships["revenue"], errors="coerce").sum()), "money")
    ws.set_column(0, 0, max(30, max(len(k.label) for k in sc.kpis.values()) + 2))
    ws.set_column(1, 1, 22)
    ws.set_column(2, 5, 16)
    ws.freeze_panes(top + 1, 0)


def build_workbook(report: QbrReport) -> bytes:
    """QbrReport → the .xlsx file's bytes (sheets Summary, Shipments, Invoices, Open cases)."""
    book = ExcelBook()
    wb = book.workbook
    sc = report.scorecard
    kam = str(sc.account.get("owner") or "")
    wb.set_properties(
        {
            "title": f"{sc.name} – activity report {fmt_quarter(sc.quarter)}",
            "subject": f"Shipment activity, invoices and open cases of {sc.name} ({sc.account_id}) for {sc.quarter}",
            "author": kam,
            "manager": kam,
            "company": "",
            "category": "Quarterly Business Review",
            "keywords": f"QBR; {sc.quarter}; {sc.account_id}",
            "comments": "",
            "created": dt.datetime.now().replace(microsecond=0),
        }
    )
    w = _Writer(book, report.currency)
    data = report.data
    ships = shipments_frame(report) if data.shipments is not None else None
    sheets: list[tuple[str, Callable[[Worksheet], None]]] = [
        ("Summary", lambda ws: _summary(w, ws, report, ships)),
        ("Shipments", lambda ws: w.table(ws, ships, SHIPMENT_COLUMNS) if ships is not None else _no_data(w, ws)),
        (
            "Invoices",
            lambda ws: (
                w.table(ws, invoices_frame(report), INVOICE_COLUMNS) if data.invoices is not None else _no_data(w, ws)
            ),
        ),
        (
            "Open cases",
            lambda ws: (
                w.table(ws, open_cases_frame(report), CASE_COLUMNS) if data.cases is not None else _no_data(w, ws)
            ),
        ),
    ]
    for name, fill in sheets:
        fill(book.add_sheet(name))
    return book.close()
