"""The explorer and book-of-business widgets without a browser: data in, widget state and HTML out."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from kam_helpers import widgets
from kam_helpers.account_data import AccountData


def _data() -> AccountData:
    """Three shipments (one on time, one delivered 2 days late, one in transit past its promise, damaged)
    and two cases (one open)."""
    ts = pd.Timestamp
    shipments = pd.DataFrame({
        "shipment_id": ["S1", "S2", "S3"], "account_id": "A", "mode": "FTL",
        "origin": ["Berlin", "Berlin", "Oslo"], "destination": ["Paris", "Rome", "Lyon"],
        "carrier": ["C1", "C2", "C1"],
        "pickup_planned": [ts("2026-07-01"), ts("2026-07-02"), ts("2026-09-20")],
        "pickup_actual": [ts("2026-07-01"), ts("2026-07-02"), ts("2026-09-20")],
        "delivery_promised": [ts("2026-07-03"), ts("2026-07-03"), ts("2026-09-25")],
        "delivery_actual": [ts("2026-07-03 18:00"), ts("2026-07-05"), pd.NaT],
        "revenue": [100.0, 200.0, 300.0], "cost": [80.0, 150.0, 250.0],
        "status": ["delivered", "delivered", "in_transit"],
        "damaged": pd.array([False, False, True], dtype="boolean"), "short": pd.array([False] * 3, dtype="boolean"),
        "weight_kg": 1.0, "pallets": 1,
    })
    cases = pd.DataFrame({
        "case_id": ["K1", "K2"], "account_id": "A", "opened": [ts("2026-07-06"), ts("2026-07-07")],
        "closed": [pd.NaT, ts("2026-07-08")], "category": ["damage", "billing dispute"], "severity": ["high", "low"],
        "shipment_id": ["S3", None], "claim_amount": [50.0, None], "status": ["open", "closed"], "root_cause": None,
    })
    return AccountData(account={"account_id": "A", "name": "Acme", "currency": "EUR"}, shipments=shipments,
                       cases=cases, as_of=ts("2026-09-30"))


def test_exceptions_table_lists_late_damaged_and_open_cases() -> None:
    data = _data()
    before = data.shipments.copy()
    table = widgets.exceptions_table(data)
    by_ref = table.set_index("ref")
    assert set(by_ref.index) == {"S2", "S3", "K1"}  # S1 on time, K2 closed
    assert by_ref.loc["S2", "kind"] == "Late" and by_ref.loc["S2", "days_late"] == 2
    assert by_ref.loc["S3", "kind"] == "Late and damaged" and by_ref.loc["S3", "days_late"] == 5
    assert by_ref.loc["K1", "kind"] == "Open case" and by_ref.loc["K1", "lane"] == "Oslo → Lyon"
    pd.testing.assert_frame_equal(data.shipments, before)  # input untouched


@pytest.mark.parametrize(
    ("show", "text", "expected"),
    [("all", "", {"S2", "S3", "K1"}), ("late", "", {"S2", "S3"}), ("damaged", "", {"S3"}),
     ("open_cases", "", {"K1"}), ("all", "rome", {"S2"}), ("all", "C1", {"S3", "K1"})],
)
def test_filter_exceptions(show: str, text: str, expected: set[str]) -> None:
    rows = widgets.filter_exceptions(widgets.exceptions_table(_data()), show, text)
    assert set(rows["ref"]) == expected


def test_filter_refuses_values_no_widget_sends() -> None:
    table = widgets.exceptions_table(_data())
    with pytest.raises(ValueError):
        widgets.filter_exceptions(table, show="__import__('os')")
    with pytest.raises(ValueError):
        widgets.filter_exceptions(table, sort="ref; drop")


def test_exceptions_html_escapes_values() -> None:
    table = widgets.exceptions_table(_data()).assign(lane="<script>x</script>")
    out = widgets.exceptions_html(table, "EUR")
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_activity_frame_and_downloads() -> None:
    frame = widgets.activity_frame(_data(), pd.Timestamp("2026-07-01").date(), pd.Timestamp("2026-07-31").date())
    assert list(frame["shipment_id"]) == ["S1", "S2"]
    assert list(frame["on_time"]) == [True, False]
    csv = widgets.to_csv_bytes(frame).decode("utf-8-sig")
    assert csv.startswith("shipment_id,")
    xlsx = widgets.to_xlsx_bytes(frame)
    back = pd.read_excel(io.BytesIO(xlsx))
    assert list(back["shipment_id"]) == ["S1", "S2"]
    link = widgets.download_link(b"a,b\n", "x.csv", "text/csv", "Download CSV")
    assert 'download="x.csv"' in link and 'href="data:text/csv;base64,' in link


def test_explorer_switches_account_and_redraws(book) -> None:  # noqa: ANN001
    explorer = widgets.AccountExplorer(book.workspace)
    assert explorer.account.value == "ACC-001" and explorer.quarter.value == str(book.quarter)
    cards, chart = explorer.cards.value, explorer.charts["volume_revenue_trend"].outputs
    assert widgets.VEGALITE_MIME in chart[0]["data"]
    explorer.account.value = "ACC-002"
    assert "Brennvik" in explorer.header.value and "At risk" in explorer.header.value
    assert explorer.cards.value != cards
    assert explorer.charts["volume_revenue_trend"].outputs != chart
    spec = explorer.charts["otd_vs_sla"].outputs[0]["data"][widgets.VEGALITE_MIME]
    assert spec["usermeta"]["embedOptions"]["renderer"] == "svg"
    assert "Open case" in explorer.table.value or "Late" in explorer.table.value
    explorer.show.value = "open_cases"
    assert "Late</span>" not in explorer.table.value
    assert "Download Excel" in explorer.prepare_download("xlsx")


def test_explorer_refuses_unknown_account(book) -> None:  # noqa: ANN001
    explorer = widgets.AccountExplorer(book.workspace)
    explorer.select("<b>ACC-999</b>", str(book.quarter))
    assert explorer.account.value == "ACC-001"
    assert "&lt;b&gt;ACC-999" in explorer.status.value


def test_book_ranks_at_risk_first_and_links(book) -> None:  # noqa: ANN001
    page = widgets.BookOfBusiness(book.workspace)
    health = [r.health for r in page.rows]
    assert health == sorted(health, key=widgets.HEALTH_ORDER.__getitem__)
    ids = [r.account_id for r in page.rows]
    assert ids.index("ACC-002") < ids.index("ACC-001")
    assert "/voila/render/qbr.ipynb?account_id=ACC-002&amp;quarter=2026Q3" in page.view.value


def test_rank_book_orders_by_health_then_revenue() -> None:
    row = lambda i, h, r: widgets.BookRow(i, i, "EUR", r, None, None, None, None, h, (), None)  # noqa: E731
    ranked = widgets.rank_book([row("a", "healthy", 9.0), row("b", "at_risk", 1.0), row("c", "at_risk", 5.0)])
    assert [r.account_id for r in ranked] == ["c", "b", "a"]
