"""The quarterly batch, run for real: papermill executes notebooks/qbr.ipynb per account in worker processes."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from conftest import Book

from kam_helpers import cli
from kam_helpers.batch.driver import run_batch
from kam_helpers.batch.jobs import BatchResult
from kam_helpers.core.errors import ConfigError
from kam_helpers.core.paths import notebooks_dir
from kam_helpers.data.sources import folder_loader
from kam_helpers.data.store import Workspace, build_workspace


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
    from kam_helpers.metrics.kpis import scorecard

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


def test_healthy_and_at_risk_summaries_differ_in_substance(batch: BatchResult, book: Book) -> None:
    def summary(account_id: str) -> str:
        nb = nbformat.read(batch.manifest.parent / account_id / "qbr.ipynb", as_version=4)
        cell = next(c for c in nb.cells if c.source.startswith('qbr.section("executive_summary")'))
        return cell.outputs[0]["data"]["text/markdown"]

    healthy, at_risk = summary(book.healthy), summary(book.at_risk)
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


def _break_weight(exports: Path, account_id: str, month: str) -> int:
    """Put text where one of the account's shipment weights belongs, on a shipment picked up in ``month``
    ('2026-08'); returns the row number (header = 1)."""
    lines = (exports / "shipments.csv").read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    col = header.index("weight_kg")
    for i, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\n").split(",")
        picked = fields[header.index("pickup_actual")] or fields[header.index("pickup_planned")]
        if fields[header.index("account_id")] == account_id and fields[col] and picked.startswith(month):
            fields[col] = "approx 300"
            lines[i - 1] = ",".join(fields) + "\n"
            (exports / "shipments.csv").write_text("".join(lines))
            return i
    raise AssertionError("no shipment to break")


def test_one_broken_account_fails_alone_and_keeps_its_last_good_report(book: Book, tmp_path: Path, capsys) -> None:
    exports, workspace, out = tmp_path / "exports", tmp_path / "ws", tmp_path / "reports" / "q"
    shutil.copytree(book.exports, exports)
    # policy block: a row with a problem blocks the reports of the quarters its dates touch (under the default,
    # exclude, the report would run and say the row was left out)
    build_workspace(workspace, folder_loader(exports, on_problem="block"))
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

    row = _break_weight(exports, "ACC-002", "2026-08")  # a shipment of the reported quarter
    capsys.readouterr()
    assert cli.main(args) == 1  # kam qbr notices the changed export, reloads it, and reports the failure
    printed = capsys.readouterr().out
    assert "reloaded" in printed and f"shipments.csv, row {row}, column 'weight_kg'" in printed

    doc = json.loads((out / "manifest.json").read_text())
    status = {a["account_id"]: a for a in doc["accounts"]}
    assert status["ACC-002"]["status"] == "failed"
    assert f"row {row}, column 'weight_kg'" in status["ACC-002"]["error"]
    assert "approx 300" in status["ACC-002"]["error"]
    assert status["ACC-002"]["failed_cell"]["source"].startswith("from kam_helpers.qbr.report import QbrReport")
    assert status["ACC-001"]["status"] == status["ACC-003"]["status"] == "ok"
    assert (out / "_failed" / "ACC-002" / "qbr.ipynb").exists()  # the partial notebook, kept apart
    assert (out / "ACC-002" / "qbr.html").read_bytes() == good  # the last good report is untouched
    assert "failed" in (out / "index.html").read_text()


# ------------------------------------------------------------------ hostile ids, resume after a kill, atomic packs

HOSTILE_IDS = ["../../evil", "/abs/path", "ACC 01/../../x", "/etc/passwd"]


def test_validation_refuses_ids_that_would_name_paths(book: Book, tmp_path: Path, capsys) -> None:
    exports = tmp_path / "exports"
    shutil.copytree(book.exports, exports)
    lines = (exports / "accounts.csv").read_text().splitlines(keepends=True)
    for i, bad in enumerate(HOSTILE_IDS, start=1):  # ACC-001..ACC-004 get the hostile ids, rows 2..5
        assert lines[i].startswith(f"ACC-00{i},")
        lines[i] = f'"{bad}",' + lines[i].split(",", 1)[1]
    (exports / "accounts.csv").write_text("".join(lines))
    report = build_workspace(tmp_path / "ws", folder_loader(exports))
    refused = {p.value: p for p in report.problems if p.table == "accounts"}
    for row, bad in enumerate(HOSTILE_IDS, start=2):
        problem = refused[bad]
        assert (problem.file, problem.row, problem.column) == ("accounts.csv", row, "account_id")
        assert "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" in problem.expected and "'..'" in problem.expected
    with Workspace.open(tmp_path / "ws") as ws:
        assert not set(HOSTILE_IDS) & set(ws.account_ids())
    assert cli.main(["validate", str(exports)]) == 1  # `kam validate FOLDER` lists them the same way
    printed = capsys.readouterr().out
    assert (
        "accounts.csv, row 2, column 'account_id': expected an id of letters" in printed and "'../../evil'" in printed
    )


def _old_store_with_ids(book: Book, folder: Path, renames: dict[str, str]) -> Path:
    """A store as an older version (no id check) would have built it: ids renamed behind validation's back."""
    import duckdb

    shutil.copytree(book.workspace, folder)
    with duckdb.connect(str(folder / "kam.duckdb")) as con:
        sql = "SELECT table_name FROM duckdb_columns() WHERE column_name = 'account_id' AND NOT internal"
        tables = [r[0] for r in con.execute(sql).fetchall()]
        for table in tables:
            for old, new in renames.items():
                con.execute(f'UPDATE "{table}" SET account_id = ? WHERE account_id = ?', [new, old])
    return folder


def _tree(root: Path, skip: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if skip not in p.parents and p != skip}


@pytest.mark.batch
def test_hostile_ids_in_an_old_store_fail_alone_and_nothing_leaves_out(book: Book, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    (victim / "keep").mkdir(parents=True)
    ids = [*HOSTILE_IDS[:1], str(victim), *HOSTILE_IDS[2:]]  # "/abs/path": a folder that exists
    renames = {f"ACC-00{i}": bad for i, bad in enumerate(ids, start=2)}
    workspace = _old_store_with_ids(book, tmp_path / "ws", renames)
    out = tmp_path / "X" / "a" / "b" / "reports"
    out.mkdir(parents=True)
    before = _tree(tmp_path, out)

    result = run_batch(book.quarter, ["ACC-001", *ids], workspace=workspace, out=out, formats="html", progress=False)

    status = {r.account_id: r for r in result.results}
    assert status["ACC-001"].status == "ok"
    for bad in ids:
        assert status[bad].status == "failed" and f"id {bad!r} cannot name a folder" in status[bad].error
        assert "Traceback" not in status[bad].error and not status[bad].outputs
    assert _tree(tmp_path, out) == before  # nothing written or deleted outside --out
    assert (victim / "keep").is_dir()
    assert sorted(p.name for p in out.iterdir()) == ["ACC-001", "index.html", "manifest.json"]
    doc = json.loads((out / "manifest.json").read_text())
    assert {a["account_id"]: a["status"] for a in doc["accounts"]} == {"ACC-001": "ok", **dict.fromkeys(ids, "failed")}

    # the worker checks again (defence in depth), whoever hands it the job
    from kam_helpers.batch.jobs import Job
    from kam_helpers.batch.worker import render_account

    job = Job("../../evil", str(book.quarter), str(workspace), str(notebooks_dir() / "qbr.ipynb"), str(out), "fp")
    assert render_account(job).status == "failed" and _tree(tmp_path, out) == before


def test_a_pack_is_swapped_in_whole_and_a_kill_mid_swap_is_repaired(tmp_path: Path) -> None:
    from kam_helpers.batch.driver import recover_work
    from kam_helpers.batch.worker import swap_in

    out = tmp_path / "out"
    final, new, old = out / "ACC-001", out / "_work" / "ACC-001" / "pack", out / "_work" / "ACC-001" / "old"
    final.mkdir(parents=True)
    (final / "qbr.html").write_text("run 1")
    (final / "qbr.pdf").write_text("run 1")
    new.mkdir(parents=True)
    (new / "qbr.html").write_text("run 2")
    swap_in(new, final, old)
    assert sorted(p.name for p in final.iterdir()) == ["qbr.html"] and (final / "qbr.html").read_text() == "run 2"
    assert not old.exists() and not new.exists()

    os.replace(final, old)  # killed between the two renames: the previous pack waits in _work/
    assert recover_work(out) == ["ACC-001"]
    assert (final / "qbr.html").read_text() == "run 2" and not (out / "_work").exists()


def test_published_notebooks_hold_no_path_of_this_machine(batch: BatchResult, book: Book) -> None:
    out = batch.manifest.parent
    for notebook in out.glob("*/qbr.ipynb"):
        text = notebook.read_text()
        for path in (str(book.workspace.parent), str(out.parent), str(notebooks_dir().parent)):
            assert path not in text, f"{notebook} holds {path}"
        nb = nbformat.read(notebook, as_version=4)
        assert nb.metadata.papermill.parameters["account_id"] == notebook.parent.name


@pytest.mark.batch
def test_a_batch_killed_halfway_resumes_where_it_stopped(book: Book, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from kam_helpers.batch.kernels import kernel_files_root, process_alive

    out = tmp_path / "reports"
    earlier = set(kernel_files_root().glob("*-*"))
    args = ["--quarter", str(book.quarter), "--workspace", str(book.workspace), "--out", str(out), "--formats", "html"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kam_helpers.cli", "qbr", *args, "--quiet", "--workers", "2"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def finished() -> set[str]:
        try:
            doc = json.loads((out / "manifest.json").read_text())
        except (OSError, ValueError):  # not written yet (a half-written one is impossible: atomic rename)
            return set()
        return {a["account_id"] for a in doc["accounts"] if a["status"] == "ok"}

    try:
        deadline = time.monotonic() + 600
        while len(finished()) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    done = finished()
    assert proc.returncode == -signal.SIGKILL and 2 <= len(done) < 12, done
    for account_id in done:  # finished packs are complete
        assert sorted(p.name for p in (out / account_id).iterdir()) == ["qbr.html", "qbr.ipynb"]

    stale = set(kernel_files_root().glob("*-*")) - earlier  # the killed workers' kernel files
    deadline = time.monotonic() + 60
    while any(process_alive(int(p.name.split("-")[0])) for p in stale) and time.monotonic() < deadline:
        time.sleep(0.1)  # the workers die with the batch's process group
    assert stale and (out / "_work").exists()

    again = run_batch(book.quarter, workspace=book.workspace, out=out, formats="html", progress=False)
    assert not again.failed
    assert {r.account_id for r in again.results if r.skipped} == done
    assert len(again.results) == 12 and all((out / r.account_id / "qbr.html").exists() for r in again.results)
    assert not (out / "_work").exists()
    assert not [p for p in stale if p.exists()]  # removed at the next start


def _count_store_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count Workspace.open and Workspace.account_data calls in this process → the list they append to."""
    calls: list[str] = []
    real_open, real_rows = Workspace.open.__func__, Workspace.account_data  # type: ignore[attr-defined]
    monkeypatch.setattr(
        Workspace, "open", classmethod(lambda cls, *a, **k: calls.append("open") or real_open(cls, *a, **k))
    )
    monkeypatch.setattr(
        Workspace, "account_data", lambda self, *a, **k: calls.append("rows") or real_rows(self, *a, **k)
    )
    return calls


@pytest.mark.batch
def test_each_account_is_read_once_and_its_headline_comes_from_the_notebook(
    book: Book, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker opens no store: the manifest's headline is what the notebook's own report wrote, and the
    notebook (QbrReport.load) opens the store and reads the account's rows once. The KPIs are those computed
    directly from the account's scorecard, health score and verdict."""
    from kam_helpers.analyses import health
    from kam_helpers.analyses.assessment import action_items, assess
    from kam_helpers.batch.jobs import Job
    from kam_helpers.batch.worker import render_account
    from kam_helpers.metrics import scorecard
    from kam_helpers.qbr.narrative import coverage_note
    from kam_helpers.qbr.report import QbrReport

    q, account_id = str(book.quarter), "ACC-002"
    calls = _count_store_reads(monkeypatch)
    out = tmp_path / "reports" / q
    job = Job(account_id, q, str(book.workspace.resolve()), str(notebooks_dir() / "qbr.ipynb"), str(out), "fp")
    result = render_account(Job(**{**job.__dict__, "engine": "nbclient", "formats": ("html",)}))
    assert result.status == "ok", result.error
    assert calls == []  # the worker itself reads nothing from the store
    assert not (out / "_work" / account_id).exists() and sorted(p.name for p in (out / account_id).iterdir()) == [
        "qbr.html",
        "qbr.ipynb",
    ]

    QbrReport.load(account_id, q, book.workspace, reports_dir=tmp_path / "reports")  # what the notebook runs
    assert calls == ["open", "rows"]

    with Workspace.open(book.workspace) as ws:
        data = ws.account_data(account_id, q)
    sc = scorecard(data, q)
    score = health.health_score(data, q, with_history=False)
    verdict = assess(sc, score)
    assert result.kpis == {
        **sc.headline(),
        "currency": data.account.get("currency"),
        "assessment": verdict.overall,
        "health_score": round(score.score, 1),
        "health_band": score.band,
        "coverage": coverage_note(sc.coverage) or None,
    }
    assert result.action_items == [
        {"text": a.text, "owner": a.owner, "due": a.due.isoformat(), "reason_kpi": a.reason_kpi}
        for a in action_items(sc.for_client(), verdict)
    ]
    assert result.name == data.name


@pytest.mark.batch
def test_a_worker_warms_its_kernel_and_its_first_notebook_runs_in_it(tmp_path: Path) -> None:
    """The warm-up starts the worker's kernel with the report's imports; the first notebook then runs in that
    kernel (same client, modules already imported) as in a fresh one: no name defined, counter at 1."""
    from kam_helpers.batch import kernels

    kernels.register()
    try:
        kernels.WARM.warm_up()
        client = kernels.WARM.kc
        nb = nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_code_cell(
                    "import sys\nprint('kam_helpers.qbr.report' in sys.modules,"
                    " 'statsmodels.tsa.exponential_smoothing.ets' in sys.modules,"
                    " [n for n in dir() if 'warm' in n or n in ('alt', 'charts', 'Image', 'ETSModel')])"
                )
            ]
        )
        nb.metadata["kernelspec"] = {"name": kernels.KERNEL_NAME, "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / "in.ipynb")
        pm.execute_notebook(
            str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), engine_name=kernels.ENGINE_NAME, progress_bar=False
        )
        out = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0]
        assert out.outputs == [nbformat.v4.new_output("stream", name="stdout", text="True True []\n")]
        assert out.execution_count == 1
        assert kernels.WARM.kc is client
    finally:
        kernels.WARM.shutdown()


@pytest.mark.batch
def test_a_failed_warm_up_says_why_and_leaves_no_kernel() -> None:
    from kam_helpers.batch import kernels
    from kam_helpers.core.errors import KernelWarmUpError

    with pytest.raises(KernelWarmUpError, match="ZeroDivisionError"):
        kernels.WARM.warm_up(code="1 / 0")
    assert kernels.WARM.km is None and kernels.WARM.kc is None


def _namespace_probe(folder: Path, engine: str) -> list:
    """Run a one-cell notebook with ``engine`` → what its kernel's user namespace holds (names and history)."""
    from kam_helpers.batch import kernels

    code = "print(sorted(dir()), len(In), dict(Out))"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": kernels.KERNEL_NAME, "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / f"probe-{engine}.ipynb")
    ran = pm.execute_notebook(
        str(folder / f"probe-{engine}.ipynb"),
        str(folder / f"probed-{engine}.ipynb"),
        engine_name=engine,
        progress_bar=False,
    )
    return [(c.outputs, c.execution_count) for c in ran.cells]


@pytest.mark.batch
def test_no_state_of_one_client_reaches_the_next_in_a_reused_kernel(book: Book, tmp_path: Path) -> None:
    """Client isolation in the warm kernel that a worker reuses: after client A's QBR, B's QBR in the same kernel
    equals B's QBR in a fresh kernel (every output and execution count, and its HTML), names nothing of A, and the
    kernel's user namespace is that of a fresh kernel."""
    from kam_helpers.batch import kernels
    from kam_helpers.batch.jobs import Job
    from kam_helpers.batch.worker import render_account

    a, b, q = book.at_risk, book.healthy, str(book.quarter)
    kernels.register()

    def job(account_id: str, out: Path, engine: str) -> Job:
        notebook = str(notebooks_dir() / "qbr.ipynb")
        return Job(account_id, q, str(book.workspace.resolve()), notebook, str(out), "fp", engine, ("html",))

    try:
        kernels.WARM.warm_up()
        assert render_account(job(a, tmp_path / "warm", kernels.ENGINE_NAME)).status == "ok"
        client = kernels.WARM.kc
        fresh_namespace = _namespace_probe(tmp_path, "nbclient")
        assert _namespace_probe(tmp_path, kernels.ENGINE_NAME) == fresh_namespace  # after A: nothing of A's run
        assert render_account(job(b, tmp_path / "warm", kernels.ENGINE_NAME)).status == "ok"
        assert kernels.WARM.kc is client  # A, the probe and B all ran in the one kernel
    finally:
        kernels.WARM.shutdown()
    assert render_account(job(b, tmp_path / "fresh", "nbclient")).status == "ok"

    reused, fresh = (nbformat.read(tmp_path / run / b / "qbr.ipynb", as_version=4) for run in ("warm", "fresh"))
    assert [(c.get("outputs"), c.get("execution_count")) for c in reused.cells] == [
        (c.get("outputs"), c.get("execution_count")) for c in fresh.cells
    ]
    no_ids = lambda html: re.sub(r'id="cell-id=[0-9a-f-]+"', "", html)  # noqa: E731  (papermill draws them at random)
    assert no_ids((tmp_path / "warm" / b / "qbr.html").read_text()) == no_ids(
        (tmp_path / "fresh" / b / "qbr.html").read_text()
    )
    for text in _texts(tmp_path / "warm" / b).values():
        assert a not in text and book.name(a) not in text


@pytest.mark.batch
def test_the_workers_parent_preloads_without_starting_a_thread_or_a_kernel() -> None:
    """What workers fork from has papermill and a built, used HTML exporter, and no thread, kernel or event loop
    (a fork of a process that has any can hang); local workers are forked from it where the platform allows."""
    import subprocess
    import sys

    from kam_helpers.batch.driver import PRELOAD, worker_context

    code = (
        f"import sys, threading, {PRELOAD}\n"
        "from kam_helpers.batch import kernels\n"
        "from kam_helpers.exports.html import exporter\n"
        "print(exporter.cache_info().currsize, 'papermill' in sys.modules, threading.active_count(),"
        " kernels.WARM.km is None, 'kam-warm' in __import__('papermill').engines.papermill_engines._engines)"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.split() == ["1", "True", "1", "True", "True"], ran.stderr
    assert worker_context().get_start_method() == ("forkserver" if os.name == "posix" else "spawn")


def test_each_result_names_its_worker_and_each_worker_renders_in_turn(batch: BatchResult) -> None:
    runs: dict[int, list[int]] = {}
    for r in batch.results:
        assert r.worker is not None
        runs.setdefault(r.worker[0], []).append(r.worker[1])
    assert len(runs) <= 2 and all(sorted(n) == list(range(1, len(n) + 1)) for n in runs.values())


@pytest.mark.batch
def test_an_account_named_twice_is_rendered_once(book: Book, tmp_path: Path) -> None:
    # two workers rendering one account at once would share its _work/ folder and race on its files
    result = run_batch(
        book.quarter, ["ACC-001", " ACC-001", "ACC-002"], workspace=book.workspace, out=tmp_path, formats="html",
        progress=False,
    )  # fmt: skip
    assert sorted(r.account_id for r in result.results) == ["ACC-001", "ACC-002"]
    assert all(r.status == "ok" for r in result.results)
