"""The quarterly batch, run for real: papermill executes notebooks/qbr.ipynb per account in worker processes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from conftest import Book

from kam_helpers import cli
from kam_helpers.batch import BatchResult, run_batch
from kam_helpers.errors import ConfigError
from kam_helpers.paths import notebooks_dir
from kam_helpers.sources import folder_loader
from kam_helpers.store import Workspace, build_workspace


@pytest.fixture(scope="module")
def batch(book: Book, tmp_path_factory: pytest.TempPathFactory) -> BatchResult:
    out = tmp_path_factory.mktemp("reports") / str(book.quarter)
    return run_batch(book.quarter, workspace=book.workspace, out=out, workers=2, progress=False)


def _texts(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="ignore") for p in folder.iterdir() if p.is_file()}


def test_index_links_every_file_of_every_pack(batch: BatchResult) -> None:
    index = batch.index.read_text()
    for entry in json.loads(batch.manifest.read_text())["accounts"]:
        for output in entry["outputs"]:
            assert f'href="{output}"' in index


def test_formats_choose_the_files_and_unknown_ones_are_refused(book: Book, tmp_path: Path) -> None:
    out = tmp_path / "q"
    result = run_batch(book.quarter, ["ACC-004"], workspace=book.workspace, out=out, formats="html", progress=False)
    assert result.results[0].outputs == ["ACC-004/qbr.ipynb", "ACC-004/qbr.html"]
    assert sorted(p.name for p in (out / "ACC-004").iterdir()) == ["qbr.html", "qbr.ipynb"]
    with pytest.raises(ConfigError, match="'docx'"):
        run_batch(book.quarter, ["ACC-004"], workspace=book.workspace, out=out, formats="html,docx", progress=False)


def test_every_account_gets_a_notebook_and_an_html_report(batch: BatchResult, book: Book) -> None:
    with Workspace.open(book.workspace) as ws:
        ids = ws.account_ids()
    assert [r.account_id for r in batch.results] == ids
    assert not batch.failed, [(r.account_id, r.error) for r in batch.failed]
    for account_id in ids:
        folder = batch.manifest.parent / account_id
        assert (folder / "qbr.ipynb").exists() and (folder / "qbr.html").exists()


def test_reports_load_nothing_from_a_network(batch: BatchResult) -> None:
    for html_file in batch.manifest.parent.glob("*/qbr.html"):
        text = html_file.read_text()
        assert "data:image/svg+xml;base64," in text, "charts are embedded SVG images"
        refs = re.findall(r"""(?:src|href)\s*=\s*["']?(https?:[^"' >]+)""", text, re.I)
        refs += re.findall(r"""@import[^;]*https?:|url\(\s*["']?https?:""", text, re.I)
        assert not refs, f"{html_file} references the network: {refs[:3]}"
        assert "<script" not in text.lower()
    index = batch.index.read_text()
    assert "http://" not in index and "https://" not in index


def test_manifest_carries_status_seconds_outputs_and_headline_kpis(batch: BatchResult) -> None:
    doc = json.loads(batch.manifest.read_text())
    assert doc["quarter"] == "2026Q3"
    for entry in doc["accounts"]:
        assert entry["status"] == "ok" and entry["error"] is None
        assert entry["seconds"] > 0
        files = ["qbr.ipynb", "qbr.html", "qbr.pptx", "activity.xlsx", "qbr.pdf"]
        assert entry["outputs"] == [f"{entry['account_id']}/{f}" for f in files]
        assert all((batch.manifest.parent / o).stat().st_size > 0 for o in entry["outputs"])
        kpis = entry["kpis"]
        for key in ("revenue", "shipments", "otd_pct", "gross_margin_pct", "invoice_accuracy_pct", "cases_opened"):
            assert key in kpis
        assert 0 <= kpis["otd_pct"] <= 100 and 0 <= kpis["invoice_accuracy_pct"] <= 100
        assert kpis["shipments"] > 0 and kpis["revenue"] > 0


def test_manifest_kpis_equal_the_metrics_computed_in_process(batch: BatchResult, book: Book) -> None:
    from kam_helpers.metrics import scorecard

    doc = json.loads(batch.manifest.read_text())
    entry = next(a for a in doc["accounts"] if a["account_id"] == "ACC-002")
    with Workspace.open(book.workspace) as ws:
        expected = scorecard(ws.account_data("ACC-002"), book.quarter).headline()
    for key, value in expected.items():
        assert entry["kpis"][key] == pytest.approx(value)


def test_no_report_names_another_client(batch: BatchResult, book: Book) -> None:
    with Workspace.open(book.workspace) as ws:
        accounts = ws.accounts()[["account_id", "name"]].itertuples(index=False)
        accounts = list(accounts)
    for account_id, _name in accounts:
        texts = _texts(batch.manifest.parent / account_id)
        for other_id, other_name in accounts:
            if other_id == account_id:
                continue
            for fname, text in texts.items():
                assert other_id not in text, f"{account_id}/{fname} contains {other_id}"
                assert other_name not in text, f"{account_id}/{fname} contains {other_name}"


def test_what_the_client_receives_never_shows_our_cost_or_margin(batch: BatchResult) -> None:
    import zipfile

    from pypdf import PdfReader

    folder = batch.manifest.parent / "ACC-002"
    html = (folder / "qbr.html").read_text()
    assert "On-time delivery" in html and "Invoice accuracy" in html
    texts = {
        "qbr.html": html,
        "qbr.ipynb": (folder / "qbr.ipynb").read_text(),
        "qbr.pdf": "\n".join(p.extract_text() for p in PdfReader(folder / "qbr.pdf").pages),
    }
    for office in ("qbr.pptx", "activity.xlsx"):
        with zipfile.ZipFile(folder / office) as z:
            texts[office] = "\n".join(z.read(n).decode("utf-8", "ignore") for n in z.namelist() if n.endswith(".xml"))
    for name, text in texts.items():
        assert "gross margin" not in text.lower(), f"{name} shows the margin"
        assert not re.search(r"\bCost\b", text), f"{name} shows our cost"
    # ... while the KAM's book of business and the manifest keep it
    assert "Gross margin" in batch.index.read_text()
    entry = next(a for a in json.loads(batch.manifest.read_text())["accounts"] if a["account_id"] == "ACC-002")
    assert entry["kpis"]["gross_margin_pct"] is not None


def test_healthy_and_at_risk_summaries_differ_in_substance(batch: BatchResult) -> None:
    def summary(account_id: str) -> str:
        nb = nbformat.read(batch.manifest.parent / account_id / "qbr.ipynb", as_version=4)
        cell = next(c for c in nb.cells if c.source.startswith('qbr.section("executive_summary")'))
        return cell.outputs[0]["data"]["text/markdown"]

    healthy, at_risk = summary("ACC-001"), summary("ACC-002")
    words = lambda s: set(re.findall(r"[a-z]+", s.lower()))  # noqa: E731
    shared = words(healthy) & words(at_risk)
    assert len(shared) / len(words(healthy) | words(at_risk)) < 0.6, "the two summaries read alike"
    assert "→" in at_risk  # the at-risk account's summary names the lane behind its misses
    assert "→" not in healthy


def test_the_batch_output_equals_a_plain_papermill_run(batch: BatchResult, book: Book, tmp_path: Path) -> None:
    plain = tmp_path / "plain.ipynb"
    pm.execute_notebook(
        str(notebooks_dir() / "qbr.ipynb"),
        str(plain),
        progress_bar=False,
        kernel_name="python3",
        parameters={"account_id": "ACC-003", "quarter": str(book.quarter), "workspace": str(book.workspace.resolve())},
    )
    ours = nbformat.read(batch.manifest.parent / "ACC-003" / "qbr.ipynb", as_version=4)
    theirs = nbformat.read(plain, as_version=4)
    # The batch also passes where to write the deck, workbook and PDF: only the injected parameters differ.
    injected = lambda c: "injected-parameters" in c.metadata.get("tags", [])  # noqa: E731
    assert [c.source for c in ours.cells if not injected(c)] == [c.source for c in theirs.cells if not injected(c)]
    assert [c.get("outputs") for c in ours.cells] == [c.get("outputs") for c in theirs.cells]
    assert [c.get("execution_count") for c in ours.cells] == [c.get("execution_count") for c in theirs.cells]


def test_a_rerun_skips_unchanged_accounts_unless_forced(batch: BatchResult, book: Book) -> None:
    out = batch.manifest.parent
    before = (out / "ACC-001" / "qbr.html").stat().st_mtime_ns
    again = run_batch(book.quarter, ["ACC-001", "ACC-002"], workspace=book.workspace, out=out, progress=False)
    assert [r.skipped for r in again.results] == [True, True]
    assert (out / "ACC-001" / "qbr.html").stat().st_mtime_ns == before
    forced = run_batch(book.quarter, ["ACC-001"], workspace=book.workspace, out=out, force=True, progress=False)
    assert [r.skipped for r in forced.results] == [False]
    assert (out / "ACC-001" / "qbr.html").stat().st_mtime_ns != before


def _break_weight(exports: Path, account_id: str) -> int:
    """Put text where one of the account's shipment weights belongs; returns the row number (header = 1)."""
    lines = (exports / "shipments.csv").read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    col = header.index("weight_kg")
    for i, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\n").split(",")
        if fields[header.index("account_id")] == account_id and fields[col]:
            fields[col] = "approx 300"
            lines[i - 1] = ",".join(fields) + "\n"
            (exports / "shipments.csv").write_text("".join(lines))
            return i
    raise AssertionError("no shipment to break")


def test_one_broken_account_fails_alone_and_keeps_its_last_good_report(book: Book, tmp_path: Path, capsys) -> None:
    exports, workspace, out = tmp_path / "exports", tmp_path / "ws", tmp_path / "reports" / "q"
    shutil.copytree(book.exports, exports)
    build_workspace(workspace, folder_loader(exports))
    accounts = "ACC-001,ACC-002,ACC-003"
    args = [
        "qbr",
        "--quarter",
        str(book.quarter),
        "--accounts",
        accounts,
        "--workspace",
        str(workspace),
        "--out",
        str(out),
        "--quiet",
    ]
    assert cli.main(args) == 0
    good = (out / "ACC-002" / "qbr.html").read_bytes()

    row = _break_weight(exports, "ACC-002")
    capsys.readouterr()
    assert cli.main(args) == 1  # kam qbr notices the changed export, reloads it, and reports the failure
    printed = capsys.readouterr().out
    assert "reloaded" in printed and f"shipments.csv, row {row}, column 'weight_kg'" in printed

    doc = json.loads((out / "manifest.json").read_text())
    status = {a["account_id"]: a for a in doc["accounts"]}
    assert status["ACC-002"]["status"] == "failed"
    assert f"row {row}, column 'weight_kg'" in status["ACC-002"]["error"]
    assert "approx 300" in status["ACC-002"]["error"]
    assert status["ACC-002"]["failed_cell"]["source"].startswith("from kam_helpers.report import QbrReport")
    assert status["ACC-001"]["status"] == status["ACC-003"]["status"] == "ok"
    assert (out / "_failed" / "ACC-002" / "qbr.ipynb").exists()  # the partial notebook, kept apart
    assert (out / "ACC-002" / "qbr.html").read_bytes() == good  # the last good report is untouched
    assert "failed" in (out / "index.html").read_text()
