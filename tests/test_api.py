"""The analyst's API (kam_helpers.api): its docstring examples run, its figures are the reports' own, it finds
the workspace from any folder of the project, and it says clearly what is wrong."""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import Book

import kam_helpers as kam
from kam_helpers import api, metrics
from kam_helpers.core.errors import ConfigError, UnknownAccountError, WorkspaceError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.sources import folder_loader
from kam_helpers.data.store import build_workspace

TINY = Path(__file__).parent / "fixtures" / "tiny"
API_MODULES = ["kam_helpers.api.workspace", "kam_helpers.api.account", "kam_helpers.api.series"]
API_MODULES += ["kam_helpers.api.excel", "kam_helpers.api.locate", "kam_helpers.core.quarters"]
API_MODULES += ["kam_helpers.metrics.scorecard", "kam_helpers.devtools.api_docs"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny fixture exports (accounts A1 and A2, data to 29 Sep 2026) built into a workspace."""
    folder = tmp_path_factory.mktemp("tiny") / "workspace"
    report = build_workspace(folder, folder_loader(TINY))
    assert not report.problems
    return folder


@pytest.fixture
def ws(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> api.Workspace:
    monkeypatch.setenv("KAM_WORKSPACE", str(tiny))
    with kam.open() as opened:
        yield opened


@pytest.mark.parametrize("module", API_MODULES)
def test_docstring_examples_run(module: str, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every example in the API's docstrings runs as written against the tiny workspace (``kam.open()``)."""
    monkeypatch.setenv("KAM_WORKSPACE", str(tiny))
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testmod(importlib.import_module(module), extraglobs={"kam": kam}, optionflags=flags)
    assert result.failed == 0 and result.attempted > 0


def test_to_frame_is_one_row_per_kpi_with_its_judgement(ws: api.Workspace) -> None:
    """A1 in 2026Q3 (data to 29 Sep): S1 on time, S2 a day late → 2 shipments, revenue 500 + 200, cost 400 + 150,
    margin 150 / 700, OTD 1 of 2 against the standard 95 % target (red); no prior quarter in the data."""
    frame = ws.account("A1").scorecard("2026Q3").to_frame().set_index("kpi")
    assert list(frame.index) == list(metrics.KPI_SPECS)
    assert list(frame.columns) == ["label", "unit", "value", "prior", "change", "last_year", "target"] + [
        "target_source",
        "rag",
    ]
    assert frame.loc["shipments", "value"] == 2 and frame.loc["revenue", "value"] == 700
    assert frame.loc["gross_margin_pct", "value"] == pytest.approx(150 / 700 * 100)
    assert frame.loc["otd_pct", ["value", "target", "rag", "target_source"]].tolist() == [50.0, 95.0, "red", "standard"]
    assert frame["prior"].isna().all() and frame["change"].isna().all()


@pytest.mark.parametrize("quarter", ["2026Q3", "2026-Q3", "2026q3", "2026-08-15", pd.Timestamp("2026-09-01")])
def test_quarters_in_any_form(ws: api.Workspace, quarter: object) -> None:
    assert list(ws.account("A2").shipments(quarter)["shipment_id"]) == ["S3", "S4"]


@pytest.mark.parametrize("quarter", ["Q3 2026", "2026Q5", "26Q3", "", "2026-13-01"])
def test_a_malformed_quarter_names_itself_and_the_accepted_forms(ws: api.Workspace, quarter: str) -> None:
    with pytest.raises(ConfigError, match=r"quarter .*: expected a quarter like 2026Q3, 2026-Q3 or 2026q3, or a date"):
        ws.account("A1").scorecard(quarter)


def test_an_unknown_account_names_the_closest_ids(ws: api.Workspace) -> None:
    with pytest.raises(UnknownAccountError, match=r"'A3' is not in the workspace; did you mean A[12] or A[12]\?"):
        ws.account("A3")
    with pytest.raises(UnknownAccountError, match=r"'ZZZ-9' is not in the workspace\. Its 2 accounts: A1, A2"):
        ws.account("ZZZ-9")


def test_series_values_are_the_scorecards_own(ws: api.Workspace) -> None:
    """A quarter's value in a series is its scorecard's, for an additive KPI and a ratio; months add up."""
    a = ws.account("A2")
    sc = a.scorecard("2026Q3")
    for kpi in ("shipments", "revenue", "otd_pct", "gross_margin_pct"):
        quarterly = a.series(kpi, freq="Q", quarters=1, quarter="2026Q3")
        assert quarterly["value"].tolist() == [pytest.approx(sc.value(kpi))], kpi
    monthly = a.series("shipments", freq="M", quarters=1, quarter="2026Q3")
    # A2 starts on 1 Aug (S3), so July is before its data: no data, not 0; S4 ships 29 Sep, the as-of day
    assert monthly["value"].fillna(-1).tolist() == [-1, 1, 1]
    assert monthly["value"].sum() == sc.value("shipments")
    assert monthly["last_day"].iloc[-1] == pd.Timestamp("2026-09-29")  # cut at the as-of day, as the quarter is


def test_weekly_and_daily_service_by_promised_day(ws: api.Workspace) -> None:
    """A1's two shipments are both promised on Fri 3 Jul: OTD 50 % that day and that week, no data elsewhere."""
    a = ws.account("A1")
    weekly = a.series("otd_pct", freq="W", quarters=1, quarter="2026Q3")
    assert weekly["period"].iloc[0] == pd.Timestamp("2026-06-29") and (weekly["period"].dt.day_of_week == 0).all()
    assert weekly.set_index("period")["value"].dropna().to_dict() == {pd.Timestamp("2026-06-29"): 50.0}
    assert (weekly["target"] == 95.0).all()
    daily = a.series("otd_pct", freq="D", quarters=1, quarter="2026Q3")
    assert len(daily) == 91  # 1 Jul to 29 Sep, the as-of day
    assert daily.set_index("period")["value"].dropna().to_dict() == {pd.Timestamp("2026-07-03"): 50.0}


def test_series_refuses_an_unknown_kpi_or_frequency(ws: api.Workspace) -> None:
    with pytest.raises(ConfigError, match="did you mean otd_pct"):
        ws.account("A1").series("otd")
    with pytest.raises(ConfigError, match=r"freq 'Y': expected one of D \(day\)"):
        ws.account("A1").series("otd_pct", freq="Y")  # type: ignore[arg-type]


def test_compare_puts_accounts_side_by_side(ws: api.Workspace) -> None:
    table = ws.compare(["A1", "A2"], "2026Q3")
    assert list(table.columns) == ["A1", "A2"] and list(table.index) == list(metrics.KPI_SPECS)
    assert table.loc["revenue"].tolist() == [700.0, 1400.0]


def test_an_account_is_read_and_prepared_once(ws: api.Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    account_data = ws.store.account_data
    monkeypatch.setattr(ws.store, "account_data", lambda *args: reads.append(args[0]) or account_data(*args))
    a = ws.account("A1")
    a.scorecard("2026Q3"), a.shipments("2026Q3"), a.series("otd_pct", "W"), a.scorecard("2026Q2")
    assert a.qbr("2026Q3").prepared is a.prepared("2026Q3")
    assert reads == ["A1"]
    assert ws.account("A1") is a


def test_open_finds_the_project_workspace_from_any_folder_inside_it(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "notebooks" / "exploratory").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (project / "data").mkdir()
    (project / "data" / "workspace").symlink_to(tiny)
    monkeypatch.delenv("KAM_WORKSPACE")
    monkeypatch.setenv("KAM_HOME", str(tmp_path / "elsewhere"))
    for folder in (project, project / "notebooks", project / "notebooks" / "exploratory"):
        monkeypatch.chdir(folder)
        with kam.open() as ws:
            assert ws.folder == project / "data" / "workspace"
    with kam.open(tiny / "kam.duckdb") as ws:  # the store file itself also names it
        assert ws.account_ids() == ["A1", "A2"]
    monkeypatch.chdir(project / "notebooks")
    with kam.open("..") as ws:  # and so does the project's folder
        assert ws.folder == project / "data" / "workspace"


def test_open_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "project" / "notebooks").mkdir(parents=True)
    (tmp_path / "project" / "pyproject.toml").write_text("")
    monkeypatch.delenv("KAM_WORKSPACE")
    monkeypatch.setenv("KAM_HOME", str(tmp_path / "installed"))
    monkeypatch.chdir(tmp_path / "project" / "notebooks")
    with pytest.raises(WorkspaceError) as error:
        kam.open()
    message = str(error.value)
    for looked in ("project/notebooks/data/workspace", "project/data/workspace", "installed/data/workspace"):
        assert looked in message
    assert "kam sample" in message
    monkeypatch.setenv("KAM_WORKSPACE", str(tmp_path / "nothing"))
    with pytest.raises(WorkspaceError, match=r"nothing \(\$KAM_WORKSPACE\)"):
        kam.open()


def test_importing_the_package_loads_no_pandas_or_duckdb() -> None:
    """CLI and batch workers import kam_helpers.core modules: the package's lazy API must not cost them pandas."""
    code = "import sys, kam_helpers, kam_helpers.core.quarters; print('pandas' in sys.modules, 'duckdb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert kam.open is api.open and kam.Account is api.Account and "open" in dir(kam)


def test_quarter_coerce_accepts_dates() -> None:
    assert Quarter.coerce("2026-01-01") == Quarter(2026, 1) == Quarter.coerce(pd.Timestamp("2026-03-31 23:59"))


@pytest.fixture(scope="module")
def batch(book: Book, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The sample book's quarter rendered by the batch (HTML only) → account id → its manifest's shipments."""
    from kam_helpers.batch.driver import run_batch

    out = tmp_path_factory.mktemp("reports") / str(book.quarter)
    result = run_batch(book.quarter, workspace=book.workspace, out=out, workers=2, formats="html", progress=False)
    manifest = json.loads(result.manifest.read_text())
    return {entry["account_id"]: entry["kpis"]["shipments"] for entry in manifest["accounts"]}


def test_from_notebooks_shipments_are_the_batch_manifests_count(
    book: Book, batch: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From notebooks/ of a project, kam.open().account(id).shipments(q) has exactly the shipments the batch's
    manifest counts (and the scorecard's KPI) for every account of the sample book."""
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (project / "data").mkdir()
    (project / "data" / "workspace").symlink_to(book.workspace)
    monkeypatch.delenv("KAM_WORKSPACE")
    monkeypatch.chdir(project / "notebooks")
    with kam.open() as ws:
        ids = ws.account_ids()
        assert len(ids) == 12 and sorted(batch) == ws.store.active_accounts(book.quarter)
        for account_id in ids:
            a = ws.account(account_id)
            counted = len(a.shipments(book.quarter))
            assert counted == batch.get(account_id, 0) == a.scorecard(book.quarter).value("shipments"), account_id


def test_the_reference_page_is_current_and_lists_every_public_name() -> None:
    """docs/API.md is what `make docs` writes from the docstrings, and lists every public function, class,
    method and property of the API, each with a runnable example."""
    from kam_helpers.devtools import api_docs

    root = Path(__file__).resolve().parents[1]
    page = (root / api_docs.PAGE).read_text(encoding="utf-8")
    assert page == api_docs.render(), "docs/API.md is out of date: run `make docs`"
    names = [name for name, _ in api_docs.documented()]
    for name in api.__all__:
        assert f"kam.{name}" in names
    for cls in (api.Workspace, api.Account):
        for member, _ in api_docs.public_members(cls):
            assert f"{cls.__name__}.{member}" in names
    for name, obj in api_docs.documented():
        assert f"### `{name}" in page or f"### `class {name}" in page
        doc = (obj.fget if isinstance(obj, property) else obj).__doc__ or ""
        assert ">>> " in doc, f"{name} has no example"


def test_a_qbr_displays_itself_in_the_order_of_the_notebook(ws: api.Workspace, monkeypatch) -> None:
    """A cell ending with ``a.qbr(q)`` shows the whole report: header, the outline's parts, the scorecard table."""
    import IPython.display

    from kam_helpers.qbr.report import ChartView

    shown: list[object] = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    report = ws.account("A1").qbr("2026Q3")
    assert ws.account("A1").qbr("2026-07-01") is report  # computed once per quarter and audience
    report._ipython_display_()
    html = [o.data for o in shown if isinstance(o, IPython.display.HTML)]
    assert "Alpha Foods" in html[0] and html[-1] == report.scorecard_table().data
    assert report.kpi_cards().data in html and report.action_items().data in html
    assert any(isinstance(o, ChartView) for o in shown)
    sections = [o.markdown.splitlines()[0] for o in shown if hasattr(o, "markdown")]
    assert sections[0].startswith("## ") and len(sections) == 7


def test_one_kpi_of_a_period_is_the_value_every_kpi_computes(book: Book) -> None:
    """period_values(..., keys=(kpi,)), which a series asks for, equals the full computation, for every KPI,
    on a few periods of an account with every table."""
    with kam.open(book.workspace) as ws:
        prep = ws.account(book.at_risk).prepared(book.quarter)
        for span in api.series.periods("M", book.quarter, 2, ws.as_of)[:4]:
            every = metrics.period_values(prep, span)
            prep.memo.clear()
            for kpi in metrics.KPI_SPECS:
                assert metrics.period_values(prep, span, keys=(kpi,))[kpi] == every[kpi], (span, kpi)


def test_on_the_sample_book_a_quarter_in_a_series_is_its_scorecard(book: Book) -> None:
    """A whole quarter of the sample book: the "Q" value is the scorecard's for an additive KPI and ratios, and
    the months' shipments add up to the quarter's."""
    with kam.open(book.workspace) as ws:
        a = ws.account(book.at_risk)
        sc = a.scorecard(book.quarter)
        for kpi in ("shipments", "revenue", "otd_pct", "invoice_accuracy_pct"):
            assert a.series(kpi, freq="Q", quarters=1, quarter=book.quarter)["value"].iloc[0] == pytest.approx(
                sc.value(kpi)
            ), kpi
        assert a.series("shipments", freq="M", quarters=1, quarter=book.quarter)["value"].sum() == sc.value("shipments")
        assert len(a.series("otd_pct", freq="W", quarters=4, quarter=book.quarter)) in (53, 54)


def test_the_workspace_is_read_only(ws: api.Workspace) -> None:
    import duckdb

    with pytest.raises(duckdb.Error, match="read-only"):
        ws.query("DELETE FROM shipments")
    assert len(ws.query("SELECT * FROM shipments")) == 4


def test_write_excel_keeps_hostile_values_as_text(tmp_path: Path) -> None:
    import openpyxl

    hostile = pd.DataFrame(
        {"lane": ['=HYPERLINK("http://x","y")', "<script>alert(1)</script>", "../../etc/passwd", "@SUM(A1)"]}
    )
    path = kam.write_excel(tmp_path / "out.xlsx", {"Lanes": hostile})
    cells = [row[0] for row in openpyxl.load_workbook(path)["Lanes"].iter_rows(min_row=2)]
    assert [c.value for c in cells] == list(hostile["lane"])
    assert all(c.data_type == "s" for c in cells)  # text, never a formula
