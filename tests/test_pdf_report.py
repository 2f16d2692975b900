"""Tests of kam_helpers.exports.pdf: a real PDF, offline, with the client's name, charts and metadata."""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader
from test_deck import QUARTER

from kam_helpers.exports.pdf import build_pdf
from kam_helpers.qbr.report import QbrReport


@pytest.fixture(scope="module")
def report(book) -> QbrReport:
    return QbrReport.load(book.at_risk, QUARTER, book.workspace)


@pytest.fixture(scope="module")
def pdf(report: QbrReport) -> bytes:
    return build_pdf(report)


def test_is_a_pdf_with_pages_text_and_images(pdf: bytes, report: QbrReport, book) -> None:
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 4
    text = "\n".join(p.extract_text() for p in reader.pages)
    planted = json.loads((book.exports / "planted.json").read_text())["late_clusters"]
    lanes = {c["lane"] for c in planted if c["account_id"] == book.at_risk and c["quarter"] == QUARTER}
    for needle in (report.data.account["name"], "Executive summary", "Scorecard", "Action items"):
        assert needle in text
    assert any(lane in text for lane in lanes), "the lane behind the late deliveries is named"
    assert sum(len(p.images) for p in reader.pages) >= 6  # the charts


def test_fonts_are_embedded(pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(pdf))
    fonts = [f.get_object() for p in reader.pages for f in p["/Resources"]["/Font"].values()]
    assert fonts and all("/FontFile2" in f["/DescendantFonts"][0].get_object()["/FontDescriptor"] for f in fonts)


def test_metadata_names_only_this_client(pdf: bytes, report: QbrReport) -> None:
    meta = PdfReader(io.BytesIO(pdf)).metadata
    account = report.data.account
    assert meta.author == account["owner"] and account["name"] in meta.title and account["account_id"] in meta.subject
