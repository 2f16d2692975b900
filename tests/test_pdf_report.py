"""Tests of kam_helpers.pdf_report: a real PDF, offline, with the client's name, charts and metadata."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from test_deck import ACCOUNT, QUARTER

from kam_helpers.pdf_report import build_pdf
from kam_helpers.report import QbrReport


@pytest.fixture(scope="module")
def pdf(book) -> bytes:
    return build_pdf(QbrReport.load(ACCOUNT, QUARTER, book.workspace))


def test_is_a_pdf_with_pages_text_and_images(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 4
    text = "\n".join(p.extract_text() for p in reader.pages)
    for needle in ("Brennvik Automotive", "Executive summary", "Scorecard", "Action items", "Berlin → Gothenburg"):
        assert needle in text
    assert sum(len(p.images) for p in reader.pages) >= 6  # the charts


def test_fonts_are_embedded(pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(pdf))
    fonts = [f.get_object() for p in reader.pages for f in p["/Resources"]["/Font"].values()]
    assert fonts and all("/FontFile2" in f["/DescendantFonts"][0].get_object()["/FontDescriptor"] for f in fonts)


def test_metadata_names_only_this_client(pdf: bytes) -> None:
    meta = PdfReader(io.BytesIO(pdf)).metadata
    assert meta.author == "Sophie Laurent" and "Brennvik Automotive" in meta.title and ACCOUNT in meta.subject
