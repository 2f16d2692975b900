"""Commitments: status rules, the evidence, and carrying the sample's action items into the next QBR."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kam_helpers import metrics
from kam_helpers.analyses import assessment
from kam_helpers.analyses import commitments as cm
from kam_helpers.core.errors import KamError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData
from kam_helpers.data.store import Workspace

Q = Quarter(2026, 3)


@pytest.mark.parametrize(
    ("met", "due", "expected"),
    [
        (True, dt.date(2026, 8, 1), "done"),
        (False, dt.date(2026, 8, 1), "overdue"),  # due inside the quarter, KPI still missed
        (False, dt.date(2026, 10, 15), "open"),  # due after the quarter
        (None, dt.date(2026, 8, 1), "open"),  # not measurable: never called overdue
    ],
)
def test_status(met: bool | None, due: dt.date, expected: str) -> None:
    assert cm.status(met, due, Q) == expected


def _store(reports: Path, quarter: Quarter, account_id: str, items: list | None, status: str = "ok") -> None:
    """Write a manifest as `kam qbr` does: the account's entry with its action items."""
    folder = reports / str(quarter)
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"account_id": account_id, "status": status}
    if items is not None:
        entry["action_items"] = [cm.item_record(i) for i in items]
    (folder / "manifest.json").write_text(json.dumps({"quarter": str(quarter), "accounts": [entry]}))


def test_carry_over_on_the_sample(book, tmp_path: Path) -> None:
    """The previous QBR's stored action items are followed up; nothing is re-derived from the data."""
    carried = {}
    with Workspace.open(book.workspace) as ws:
        for a in (book.healthy, book.at_risk):
            data = ws.account_data(a)
            before = metrics.scorecard(data, book.quarter.prior)
            _store(tmp_path, book.quarter.prior, a, assessment.action_items(before.for_client()))
            stored = cm.stored_items(tmp_path, a, book.quarter.prior)
            carried[a] = cm.carry_over(data, book.quarter, items=stored)
    risky = {i.reason_kpi: i for i in carried[book.at_risk]}
    otd = risky["otd_pct"]
    assert otd.status == "overdue" and otd.from_quarter == str(book.quarter.prior)
    assert "On-time delivery" in otd.evidence and "(red)" in otd.evidence
    healthy = carried[book.healthy]
    assert healthy and all(i.status in ("done", "open") for i in healthy)
    assert [i.status for i in healthy if i.reason_kpi == "pipeline"] == ["open"]
    for items in carried.values():
        assert all(i.evidence and i.owner and i.due for i in items)


def test_first_qbr_has_no_history(tmp_path: Path) -> None:
    """No stored QBR (no manifest, a failed run, an old manifest without items) → None: 'No earlier QBR'."""
    data = AccountData(account={"account_id": "ACC-1"}, shipments=None)
    assert cm.stored_items(tmp_path, "ACC-1", "2026Q2") is None  # no manifest at all
    assert cm.carry_over(data, "2026Q3", items=None) is None
    _store(tmp_path, Quarter(2026, 2), "ACC-1", [], status="failed")
    assert cm.stored_items(tmp_path, "ACC-1", "2026Q2") is None
    _store(tmp_path, Quarter(2026, 2), "ACC-1", None)  # written before action items were stored
    assert cm.stored_items(tmp_path, "ACC-1", "2026Q2") is None
    _store(tmp_path, Quarter(2026, 2), "ACC-2", [])  # another account's QBR
    assert cm.stored_items(tmp_path, "ACC-1", "2026Q2") is None


def test_stored_items_round_trip_and_errors(tmp_path: Path) -> None:
    item = assessment.ActionItem("Lane review of Lyon → Paris", "Operations", dt.date(2026, 7, 30), "otd_pct")
    _store(tmp_path, Quarter(2026, 2), "ACC-1", [item])
    assert cm.stored_items(tmp_path, "ACC-1", "2026Q2") == [item]
    _store(tmp_path, Quarter(2026, 2), "ACC-1", [])
    assert cm.stored_items(tmp_path, "ACC-1", "2026Q2") == []  # a QBR that agreed nothing
    path = tmp_path / "2026Q2" / "manifest.json"
    path.write_text(json.dumps({"accounts": [{"account_id": "ACC-1", "status": "ok", "action_items": [{"x": 1}]}]}))
    with pytest.raises(KamError, match=r"manifest.json: accounts\[ACC-1\].action_items\[0\]: expected text"):
        cm.stored_items(tmp_path, "ACC-1", "2026Q2")
