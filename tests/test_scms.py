"""The real USAID SCMS dataset, end to end: kam import with data/mappings/scms_usaid.yml, checked against an
independent plain-pandas computation from the raw CSV, then the real QBR batch for 2014Q4.

Run with ``pytest -s tests/test_scms.py`` to see the import's reject summary.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from kam_helpers.core import paths
from kam_helpers.data.importer import ImportReport, import_source
from kam_helpers.data.store import Workspace
from kam_helpers.metrics.kpis import scorecard

SCMS = paths.PROJECT_ROOT / ".." / "shared" / "realdata" / "scms_usaid"
CSV = SCMS / "SCMS_Delivery_History_Dataset.csv"
MAPPING = paths.PROJECT_ROOT / "data" / "mappings" / "scms_usaid.yml"

pytestmark = pytest.mark.skipif(not CSV.exists(), reason=f"the real SCMS dataset is not at {CSV}")


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ImportReport]:
    ws = tmp_path_factory.mktemp("scms") / "ws"
    report = import_source(SCMS, MAPPING, ws)
    print("\n" + report.summary())
    return ws, report


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    """Plain pandas, straight from the raw CSV, following docs/PERIODS.md: per country and quarter, the shipments
    (ASN/DN) and Line Item Value by ship date (no pickup dates here: the delivery date), OTD % (delivered by the
    earliest scheduled date of the shipment's lines) over the shipments *due* in the quarter (promised date),
    and first_day, the country's earliest delivery or promise (quarters before it have no data)."""
    raw = pd.read_csv(CSV, encoding="utf-8-sig", keep_default_na=False, dtype=str)
    assert len(raw) == 10_324
    lines = raw[raw["Shipment Mode"] != "N/A"].assign(
        promised=lambda d: pd.to_datetime(d["Scheduled Delivery Date"], format="%d-%b-%y"),
        actual=lambda d: pd.to_datetime(d["Delivered to Client Date"], format="%d-%b-%y"),
        value=lambda d: d["Line Item Value"].astype(float),
    )
    ships = lines.groupby("ASN/DN #").agg(
        country=("Country", "first"), promised=("promised", "min"), actual=("actual", "max"), value=("value", "sum")
    )
    ships["quarter"] = ships["actual"].dt.to_period("Q").astype(str)
    ships["due_quarter"] = ships["promised"].dt.to_period("Q").astype(str)
    ships["on_time"] = ships["actual"] <= ships["promised"]
    volume = ships.groupby(["country", "quarter"]).agg(shipments=("value", "size"), revenue=("value", "sum"))
    otd = ships.groupby(["country", "due_quarter"])["on_time"].mean().mul(100).rename("otd_pct")
    otd.index = otd.index.set_names(["country", "quarter"])
    frame = volume.join(otd, how="left")
    first = ships.assign(first=ships[["actual", "promised"]].min(axis=1)).groupby("country")["first"].min()
    return frame.assign(first_day=first.reindex(frame.index.get_level_values("country")).to_numpy())


@pytest.fixture(scope="module")
def otd_due(expected: pd.DataFrame) -> pd.Series:
    """OTD % per country and quarter of the promise (also for quarters without deliveries)."""
    raw = pd.read_csv(CSV, encoding="utf-8-sig", keep_default_na=False, dtype=str)
    lines = raw[raw["Shipment Mode"] != "N/A"].assign(
        promised=lambda d: pd.to_datetime(d["Scheduled Delivery Date"], format="%d-%b-%y"),
        actual=lambda d: pd.to_datetime(d["Delivered to Client Date"], format="%d-%b-%y"),
    )
    ships = lines.groupby("ASN/DN #").agg(
        country=("Country", "first"), promised=("promised", "min"), actual=("actual", "max")
    )
    ships["quarter"] = ships["promised"].dt.to_period("Q").astype(str)
    return (ships["actual"] <= ships["promised"]).groupby([ships["country"], ships["quarter"]]).mean() * 100


def test_the_import_reports_what_it_left_out_and_why(imported: tuple[Path, ImportReport]) -> None:
    ws, report = imported
    assert report.rejected == []  # every mapped value of the real file is readable
    assert len(report.skipped) == 360  # Shipment Mode N/A: no mode to give them
    assert {(p.column, p.value) for p in report.skipped} == {("Shipment Mode", "N/A")}
    rejects = pd.read_csv(report.rejects_file, dtype=str, keep_default_na=False)
    assert len(rejects) == 360 and rejects["row"].astype(int).min() >= 2
    assert report.rows == {"accounts": 43, "shipments": 7_030 - rejects_asns()}
    assert "360 source row(s) skipped by the mapping" in report.summary()


def rejects_asns() -> int:
    raw = pd.read_csv(CSV, encoding="utf-8-sig", keep_default_na=False, dtype=str)
    return raw.loc[raw["Shipment Mode"] == "N/A", "ASN/DN #"].nunique()


def test_counts_otd_and_value_per_country_and_quarter_match_the_raw_csv(
    imported: tuple[Path, ImportReport], expected: pd.DataFrame, otd_due: pd.Series
) -> None:
    ws, _ = imported
    with Workspace.open(ws) as store:
        ids = dict(zip(store.accounts()["name"], store.accounts()["account_id"], strict=False))
        # Every country and quarter, from the store.
        got = (
            store.query(
                "SELECT a.name AS country, CAST(year(delivery_actual) AS VARCHAR) || 'Q' || "
                "CAST(quarter(delivery_actual) AS VARCHAR) AS quarter, count(*) AS shipments, sum(revenue) AS revenue "
                "FROM shipments s JOIN accounts a USING (account_id) GROUP BY ALL"
            )
            .set_index(["country", "quarter"])
            .sort_index()
        )
        want = expected[["shipments", "revenue"]].sort_index()
        assert got.index.equals(want.index)
        assert (got["shipments"] == want["shipments"]).all()
        assert got["revenue"].to_numpy() == pytest.approx(want["revenue"].to_numpy(), rel=1e-9)
        # A few countries and quarters through the scorecard the reports use.
        firsts = expected.groupby(level="country")["first_day"].min()
        for country in ("South Africa", "Nigeria", "Côte d'Ivoire", "Congo, DRC", "Vietnam"):
            data = store.account_data(ids[country])
            for quarter in ("2014Q4", "2012Q1", "2009Q3"):
                kpis = scorecard(data, quarter).kpis
                due = otd_due.get((country, quarter))
                assert kpis["otd_pct"].value == (None if due is None else pytest.approx(due)), (country, quarter)
                row = expected.loc[(country, quarter)] if (country, quarter) in expected.index else None
                if row is None:  # nothing shipped: 0 while the country has data, no data before its first record
                    before = pd.Period(quarter, "Q").end_time < firsts[country]
                    assert kpis["shipments"].value == (None if before else 0), (country, quarter)
                    continue
                assert kpis["shipments"].value == row["shipments"], (country, quarter)
                assert kpis["revenue"].value == pytest.approx(row["revenue"]), (country, quarter)
                assert kpis["cases_opened"].value is None and kpis["invoice_accuracy_pct"].value is None


def _text(path: Path) -> str:
    return _text_of(path.read_text(encoding="utf-8"))


def _section(path: Path, heading: str, next_heading: str) -> str:
    """The text of a report between the section heading that starts with ``heading`` and the next one's."""
    page = path.read_text(encoding="utf-8")
    start = re.search(rf"<h2[^>]*>\s*{re.escape(heading)}", page)
    end = re.search(rf"<h2[^>]*>\s*{re.escape(next_heading)}", page)
    assert start and end, f"{path}: no {heading!r} or {next_heading!r} section heading"
    return _text_of(page[start.start() : end.start()])


def _text_of(page: str) -> str:
    page = re.sub(r"<(svg|style|script)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_the_2014q4_batch_reports_every_country_and_says_no_data_for_missing_tables(
    imported: tuple[Path, ImportReport], expected: pd.DataFrame, tmp_path: Path
) -> None:
    from kam_helpers.batch.driver import run_batch

    ws, _ = imported
    countries = sorted(c for c, q in expected.index if q == "2014Q4")
    assert len(countries) == 19
    result = run_batch("2014Q4", workspace=ws, out=tmp_path / "reports", workers=2, progress=False)
    with Workspace.open(ws) as store:
        names = dict(zip(store.accounts()["account_id"], store.accounts()["name"], strict=False))
    by_name = {names[r.account_id]: r for r in result.results}
    assert sorted(by_name) == countries
    assert not result.failed, [(r.account_id, r.error) for r in result.failed]
    manifest = json.loads(Path(result.manifest).read_text())
    assert sorted(a["account_id"] for a in manifest["accounts"]) == sorted(r.account_id for r in result.results)
    for country in countries:
        r = by_name[country]
        kpis = r.kpis
        assert kpis["shipments"] == expected.loc[(country, "2014Q4"), "shipments"]
        assert kpis["cases_opened"] is None and kpis["invoice_accuracy_pct"] is None  # absent, not zero
        report = tmp_path / "reports" / r.account_id / "qbr.html"
        text = _text(report)
        billing = _section(report, "Billing", "Complaints")
        complaints = _section(report, "Complaints", "Opportunities")
        assert re.search(r"no [a-z ]*data", billing), billing
        assert re.search(r"no [a-z ]*data", complaints), complaints
        assert country in text
