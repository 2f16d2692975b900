"""Tests of kam_helpers.exports.pack: the files next to qbr.html, unknown formats, and client isolation."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader
from test_deck import QUARTER

from kam_helpers.core.errors import FormatError, TemplateError
from kam_helpers.data.store import Workspace
from kam_helpers.exports import pack
from kam_helpers.qbr.report import QbrReport


@pytest.fixture(scope="module")
def written(book, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("pack") / QUARTER / book.at_risk
    return pack.write_pack(QbrReport.load(book.at_risk, QUARTER, book.workspace), out)


def test_writes_every_format(written: list[Path]) -> None:
    assert [p.name for p in written] == ["qbr.pptx", "activity.xlsx", "qbr.pdf"]
    assert not [p for p in written[0].parent.iterdir() if p.name.endswith(".tmp")]


def test_formats_are_parsed_and_checked(book, tmp_path: Path) -> None:
    assert pack.parse_formats("html, PPTX,xlsx,pptx") == ("html", "pptx", "xlsx")
    with pytest.raises(FormatError, match="'docx'.*expected"):
        pack.parse_formats("pptx,docx")
    report = QbrReport.load(book.at_risk, QUARTER, book.workspace)
    assert [p.name for p in pack.write_pack(report, tmp_path, ["html", "xlsx"])] == ["activity.xlsx"]
    with pytest.raises(TemplateError):
        pack.write_pack(report, tmp_path / "bad", template=tmp_path / "missing.pptx")
    assert not (tmp_path / "bad").exists()  # nothing half-written


def test_no_other_client_anywhere(written: list[Path], book) -> None:
    with Workspace.open(book.workspace) as ws:
        accounts = ws.accounts()
    others = accounts[accounts["account_id"] != book.at_risk]
    needles = [str(v) for v in others["account_id"]] + [str(v) for v in others["name"]]
    own = accounts.loc[accounts["account_id"] == book.at_risk, "name"].item()
    texts: dict[str, str] = {}
    for path in written[:2]:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                texts[f"{path.name}:{name}"] = z.read(name).decode("utf-8", errors="replace")
    reader = PdfReader(str(written[2]))
    texts["qbr.pdf"] = "\n".join(p.extract_text() for p in reader.pages) + str(dict(reader.metadata))
    assert any(own in t for t in texts.values()) and any("docProps" in k for k in texts)
    for where, text in texts.items():
        for needle in needles:
            assert needle not in text, f"{needle!r} in {where}"


def test_each_chart_is_converted_once_for_the_whole_pack(book, tmp_path: Path, monkeypatch) -> None:
    """The page's SVG, the deck's and the PDF's PNG: one Vega-Lite spec, one SVG and one PNG per chart (at
    PNG_SCALE) for the notebook's charts and every file of the pack; the same charts again (another report of the
    same figures) are not converted again."""
    from kam_helpers.qbr import charts
    from kam_helpers.qbr.outline import PARTS

    calls: dict[str, int] = {"spec": 0, "svg": 0, "png": 0}

    def counted(name: str, convert):
        def call(*args, **kwargs):
            calls[name] += 1
            return convert(*args, **kwargs)

        return call

    monkeypatch.setattr(charts, "spec", counted("spec", charts.spec))
    monkeypatch.setattr(charts.vlc, "vegalite_to_svg", counted("svg", charts.vlc.vegalite_to_svg))
    monkeypatch.setattr(charts.vlc, "svg_to_png", counted("png", charts.vlc.svg_to_png))
    monkeypatch.setattr(charts, "_CONVERTED", charts._Converted())
    report = QbrReport.load(book.at_risk, QUARTER, book.workspace)
    drawn = [c.name for p in PARTS for c in p.charts if report.chart_object(c.name) is not None]
    views = [report.chart(name) for name in drawn]  # what the notebook displays: Vega-Lite and SVG
    bundles = [v._repr_mimebundle_() for v in views]
    pack.write_pack(report, tmp_path)
    assert len(drawn) >= 4 and all(any("vegalite" in k for k in b) for b in bundles)
    assert calls == {"spec": len(drawn), "svg": len(drawn), "png": len(drawn)}
    again = QbrReport.load(book.at_risk, QUARTER, book.workspace)
    pack.write_pack(again, tmp_path)
    assert calls == {"spec": 2 * len(drawn), "svg": len(drawn), "png": len(drawn)}
    assert {k[2] for k in report._rendered if k[0] == "png"} == {charts.PNG_SCALE}
