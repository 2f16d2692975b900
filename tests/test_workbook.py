"""Tests of kam_helpers.exports.workbook: populations equal the scorecard's, proper cell types, text never a formula."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import replace

import openpyxl
import pytest
from test_deck import FORMULA_LANE, QUARTER, adversarial

from kam_helpers import metrics
from kam_helpers.exports.workbook import NO_DATA, SHIPMENT_COLUMNS, build_workbook
from kam_helpers.qbr.report import QbrReport

HEADERS = [h for _, h, _ in SHIPMENT_COLUMNS]


@pytest.fixture(scope="module")
def report(book) -> QbrReport:
    return QbrReport.load(book.at_risk, QUARTER, book.workspace)


@pytest.fixture(scope="module")
def wb(report: QbrReport) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(build_workbook(report)))


def column(ws, header: str) -> list:
    j = [c.value for c in ws[1]].index(header)
    return [row[j] for row in ws.iter_rows(min_row=2)]


def test_sheets_visible_with_frozen_header_and_filter(wb: openpyxl.Workbook) -> None:
    assert wb.sheetnames == ["Summary", "Shipments", "Invoices", "Open cases"]
    for ws in wb.worksheets:
        assert ws.sheet_state == "visible"
    for name in ("Shipments", "Invoices", "Open cases"):
        assert wb[name].freeze_panes == "A2" and wb[name].auto_filter.ref.startswith("A1:")


def test_shipments_equal_the_scorecard(wb: openpyxl.Workbook, report: QbrReport) -> None:
    ws = wb["Shipments"]
    assert [c.value for c in ws[1]] == HEADERS
    assert ws.max_row - 1 == report.scorecard.value("shipments") == 310
    billed = column(ws, "Billed")
    assert sum(c.value for c in billed) == pytest.approx(report.scorecard.value("revenue"), abs=0.005)
    assert all(c.data_type == "n" and "#,##0.00" in c.number_format and "€" in c.number_format for c in billed)
    for header in ("Pickup planned", "Delivery promised"):
        assert all(isinstance(c.value, dt.datetime) and c.is_date for c in column(ws, header))
    assert {c.value for c in column(ws, "On time")} <= {True, False, None}


def test_invoices_and_open_cases_equal_the_scorecard(wb: openpyxl.Workbook, report: QbrReport) -> None:
    issued = metrics.in_period(report.data.invoices, "issued", report.scorecard.quarter)
    assert wb["Invoices"].max_row - 1 == len(issued)
    assert wb["Open cases"].max_row - 1 == report.scorecard.value("cases_backlog")


def test_summary_numbers_are_numbers(wb: openpyxl.Workbook, report: QbrReport) -> None:
    ws = wb["Summary"]
    rows = {r[0].value: r for r in ws.iter_rows() if r[0].value}
    revenue, otd = rows["Revenue"], rows["On-time delivery"]
    assert revenue[1].value == pytest.approx(report.scorecard.value("revenue")) and "€" in revenue[1].number_format
    assert otd[1].value == pytest.approx(report.scorecard.value("otd_pct") / 100) and otd[1].number_format == "0.0%"
    assert rows["Account"][1].value == report.data.account["name"]


def test_formula_looking_text_stays_text(report: QbrReport) -> None:
    wb = openpyxl.load_workbook(io.BytesIO(build_workbook(adversarial(report))))
    lanes = column(wb["Shipments"], "Destination")
    hits = [c for c in lanes if c.value == FORMULA_LANE]
    assert hits and all(c.data_type == "s" for c in hits)
    name = wb["Summary"]["B3"]
    assert name.value == "@" + report.data.account["name"] and name.data_type == "s"
    assert all(c.quotePrefix for c in hits) and name.quotePrefix  # stays text when someone edits the cell
    formulas = [c.coordinate for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []  # not even the Summary's own totals: they are values


def test_absent_tables_get_a_no_data_sheet(report: QbrReport) -> None:
    bare = QbrReport(replace(report.data, invoices=None, cases=None), report.scorecard, report.narrative)
    wb = openpyxl.load_workbook(io.BytesIO(build_workbook(bare)))
    assert wb["Invoices"]["A1"].value == NO_DATA and wb["Open cases"]["A1"].value == NO_DATA


def test_properties_name_only_this_client(wb: openpyxl.Workbook, report: QbrReport) -> None:
    p = wb.properties
    account = report.data.account
    assert p.creator == account["owner"] and account["name"] in p.title and account["account_id"] in p.subject
